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
    quant_kernel={"type": ["string", "null"]},
    quant_route={"type": ["string", "null"]},
    cpu_gemm={"type": ["string", "null"]},
    speed_emulated=BOOL,
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
PAIRED = {
    **obj(
        label=STR,
        against=STR,
        flip={"enum": ["lost", "gained", None]},
        positions=COUNT,
        top1_agreement=SHARE,
        kl_mean=NUM,
        kl_max=NUM,
        tail_mass_mean=SHARE,
        kl=array({"type": ["number", "null"], "minimum": 0}),
        token_agreement=SHARE,  # the noise-floor control's row only
        exact_match=BOOL,
        note=STR,
    ),
    "required": ["label", "against", "flip", "positions", "top1_agreement", "kl_mean", "kl_max", "kl"],
}
CI = {"type": "object", "additionalProperties": {"anyOf": [{"type": "null"}, array(NUM)]}}
STATS = {
    "type": "object",
    "required": [
        "prompts", "checked", "ref_accuracy", "side_accuracy", "recovery", "top1_agreement", "kl_mean", "kl_max",
        "kl_p50", "kl_p90", "kl_p99", "flips_lost", "flips_gained", "flips_p_value", "min_detectable_accuracy_gap",
        "positions", "tail_mass_mean", "mde_kl_mean", "ci", "label", "against",
    ],
    "properties": {"ci": CI, "flips_lost": COUNT, "flips_gained": COUNT, "top1_agreement": SHARE},
}  # fmt: skip
EVIDENCE = obj(
    sides=array(STATS),
    noise_floor={"anyOf": [{"type": "null"}, STATS]},
    worst=array(obj(id=STR, label=STR, flip={"enum": ["lost", "gained", None]}, kl_mean=NUM, kl_max=NUM)),
    ceiling=array(
        obj(
            label=STR,
            map={"type": ["object", "null"], "required": ["groups", "decode_step_bytes", "weight_bytes"]},
            ideal_speedup=NUM,
            measured_speedup=NUM,
        )
    ),
    reasoning=array(obj(label=STR, answers=COUNT, closed=COUNT, median_tokens=NUM, median_seconds_to_answer=NUM)),
    prompt_set=obj(sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"}, prompts=COUNT),
    environment=obj(python=STR, cpu=STR, cpus=INT, gpu={"type": ["string", "null"]}, packages={"type": "object"}),
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
            answer=STR,
            choice=STR,
            error=STR,
            answers=array(obj(**ANSWER_FIELDS, correct={"type": ["boolean", "null"]}, timed_alone=BOOL)),
            agreement=array(AGREEMENT),
            paired=array(PAIRED),
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
    evidence=EVIDENCE,
)
# added by ``python -m inference.evaluation.lmms --report``: optional
REPORT["properties"]["standard_tasks"] = obj(
    tasks=array(STR),
    limit=COUNT,
    results=array(
        {
            "type": "object",
            "required": ["task", "metric", "label", "against", "samples", "ref_accuracy", "side_accuracy", "recovery"],
        }
    ),
)
