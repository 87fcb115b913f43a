"""JSON schemas of the page's ``comparison.json`` (``COMPARISON``) and the evaluation's ``report.json``
(``REPORT``), built from the same rows (``inference.compare.record``): a side, an answer, its agreement with
the reference, a file, the settings."""

from __future__ import annotations


def obj(**props) -> dict:
    return {"type": "object", "required": list(props), "properties": props, "additionalProperties": False}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


NUM, INT = {"type": ["number", "null"]}, {"type": ["integer", "null"]}
STR, BOOL = {"type": "string"}, {"type": "boolean"}
COUNT = {"type": "integer", "minimum": 0}
SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}

SIDE = obj(
    label=STR,
    model=STR,
    tiny_random_checkpoint=BOOL,
    reference=BOOL,
    weight_bytes=INT,
    kv_cache_tokens=INT,
    quant_scheme={"type": ["string", "null"]},
    speed_caveat={"type": ["string", "null"]},
)
ANSWER_FIELDS = {
    "label": STR,
    "reasoning": STR,
    "reply": STR,
    "note": STR,
    "finish_reason": {"type": ["string", "null"]},
    "output_tokens": COUNT,
    "prompt_tokens": INT,
    "visual_tokens": INT,
    "text_tokens": INT,
    "ttft_s": NUM,
    "decode_tokens_per_s": NUM,
    "total_s": NUM,
    "kv_cache_peak_use": SHARE,
}
ANSWER = obj(**ANSWER_FIELDS)
AGREEMENT = obj(
    label=STR,
    against=STR,
    tokens_compared=COUNT,
    common_prefix_tokens=COUNT,
    first_divergence=INT,  # 0-based
    token_agreement=SHARE,
    exact_match=BOOL,
    mean_abs_logprob_gap=NUM,
    timing={"enum": ["race", "alone"]},
    cross_score_mean=NUM,
    cross_score_reverse_mean=NUM,
)
FILE = {
    **obj(
        name=STR,
        kind={"enum": ["image", "video"]},
        resized=array({"type": "integer"}),
        frames=COUNT,
        grid_thw=array({"type": "integer"}),
        visual_tokens=COUNT,
    ),
    "required": ["name", "kind"],  # the rest once the file was planned
}
SETTINGS = {"type": "object", "required": ["max_tokens", "temperature", "seed", "enable_thinking"]}
COMPARISON = obj(
    exported_at=STR,
    sides=array(SIDE),
    turns=array(
        obj(
            sent_at=STR,
            text=STR,
            files=array(FILE),
            settings=SETTINGS,
            answers=array(ANSWER),
            agreement=array(AGREEMENT),
        )
    ),
)
REPORT = obj(
    created_at=STR,
    source=STR,
    settings=SETTINGS,
    timing={"enum": ["each alone"]},
    reference=STR,
    sides=array(SIDE),
    prompts=array(
        obj(
            id=STR,
            text=STR,
            kind={"enum": ["text", "image", "video", "image+video"]},
            files=array(FILE),
            expect=array(STR),
            error=STR,
            answers=array(obj(**ANSWER_FIELDS, correct={"type": ["boolean", "null"]}, timed_alone=BOOL)),
            agreement=array(AGREEMENT),
        )
    ),
    summary=obj(
        prompts=COUNT,
        failed_prompts=COUNT,
        sides=array(
            obj(
                label=STR,
                checked=COUNT,
                correct=COUNT,
                accuracy=SHARE,
                median_ttft_s=NUM,
                median_decode_tokens_per_s=NUM,
                timed_alone=COUNT,
                mean_visual_tokens=NUM,
                mean_text_tokens=NUM,
                output_tokens=COUNT,
                errors=COUNT,
            )
        ),
        agreement=array(
            obj(
                label=STR,
                against=STR,
                mean_token_agreement=SHARE,
                exact_matches=COUNT,
                compared=COUNT,
                median_first_divergence=NUM,
                mean_abs_logprob_gap=NUM,
                mean_cross_score=NUM,
                mean_cross_score_reverse=NUM,
                cross_scored=COUNT,
            )
        ),
    ),
)
