"""The Evaluation tab: the built-in prompt set on the app's own engines, with a report to download.

Contract: ``evaluation_tab(comparison)`` builds the tab's components inside the current Blocks
and binds its Run button (API name /evaluate). ``Evaluation.run`` is an async generator in the
server's event loop: it runs ``inference.evaluation.evaluate.run`` on the Comparison's engines (greedy,
seed 0, the same settings on every side), one prompt after another; chat turns go on meanwhile
(vLLM batches their requests with the evaluation's, and preparing media, the report and the
plots run in threads). It yields a status line with progress after every prompt, keeps the Run
button locked until it ends, and finally shows the summary and per-prompt tables, the plots and
``report.json``/``report.md`` for download. One evaluation runs at a time in the whole app;
another Run waits in Gradio's queue.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import gradio as gr

from inference.errors import DemoError
from inference.evaluation import report as eval_report
from inference.evaluation.evaluate import Prompt, load_prompts, run
from inference.inputs.chat import GenerationSettings
from inference.inputs.samples import write_evaluation_set
from ui.preview import prune, scratch
from ui.session import Comparison

log = logging.getLogger(__name__)

KEEP_REPORTS = 16  # report folders kept on disk (Gradio copies what it hands out)
CAPTIONS = {
    "agreement.png": "Token agreement with the reference, per prompt",
    "speed.png": "TTFT and decode speed per side",
    "divergence.png": "Where each answer departs from the reference",
}


def bar(done: int, total: int, width: int = 20) -> str:
    full = round(width * done / total) if total else width
    return "▰" * full + "▱" * (width - full)


class Evaluation:
    def __init__(self, comparison: Comparison):
        self.comparison = comparison
        self._prompts: list[Prompt] | None = None

    def prompts(self) -> list[Prompt]:
        """The built-in set, its media written once per process."""
        if self._prompts is None:
            self._prompts = load_prompts(write_evaluation_set(scratch("evaluation-set")))
        return self._prompts

    async def run(self, max_tokens: float):
        """Outputs: status line, Run button, tables, plots, report files."""
        c, keep = self.comparison, [gr.skip()] * 3
        if not c.pool.status.ready:
            yield "⚠️ The engines are still loading; run the evaluation once the status says ready.", gr.skip(), *keep
            return
        yield "⏳ Preparing the built-in prompt set…", gr.update(interactive=False, value="Running…"), *keep
        try:
            prompts = await asyncio.to_thread(self.prompts)
            settings = GenerationSettings(max_tokens=int(max_tokens), ignore_eos=c.settings.ignore_eos)
            limits = {"video": c.video, "budget": c.budget, "limits": c.media_limits, "context": c.context}
            outcomes, n = [], len(prompts)
            async for outcome in run(c.pool.engines, prompts, settings, stall_seconds=c.stall_seconds, **limits):
                outcomes.append(outcome)
                note = f" ⚠️ {outcome.error}" if outcome.error else ""
                line = f"⏳ {bar(len(outcomes), n)} {len(outcomes)}/{n} prompts · {outcome.prompt.id}{note}"
                yield line, gr.skip(), *keep
            feet = [e.footprint for e in c.pool.engines]
            rep = await asyncio.to_thread(eval_report.build, c.pool.specs, feet, outcomes, settings, "built-in set")
            root = scratch("evaluation")
            folder = Path(tempfile.mkdtemp(dir=root, prefix="report-"))
            paths = await asyncio.to_thread(eval_report.write, rep, folder)
            prune(root, KEEP_REPORTS)
        except Exception as err:  # the UI edge: say it, log the cause, unlock Run
            log.exception("evaluation failed")
            why = err if isinstance(err, DemoError) else f"unexpected error ({err!r}); see the log"
            yield f"❌ The evaluation stopped: {why}", gr.update(interactive=True, value="Run"), *keep
            return
        summary = rep["summary"]
        done = f"✅ {summary['prompts']} prompts evaluated at {settings.max_tokens} new tokens each"
        if summary["failed_prompts"]:
            done += f" ({summary['failed_prompts']} could not be sent)"
        plots = [(str(p), CAPTIONS[p.name]) for p in paths if p.suffix == ".png"]
        files = gr.update(value=[str(p) for p in paths if p.suffix in (".json", ".md")], visible=True)
        yield done + ".", gr.update(interactive=True, value="Run"), eval_report.markdown(rep, full=False), plots, files


def evaluation_tab(comparison: Comparison) -> Evaluation:
    """The tab's components and its Run button's event, inside the current Blocks."""
    evaluation = Evaluation(comparison)
    gr.Markdown(
        "Runs the built-in prompt set (charts, a receipt, counting, a scene, clips, text; media made by the "
        "project) through every side with the same greedy settings, and reports token agreement, first "
        "divergence, |Δ log-prob|, speed and, where the answer is known, accuracy. Chat keeps working meanwhile "
        "(its turns share the engines, so they also weigh on the evaluation's timings)."
    )
    with gr.Row():
        cap = comparison.caps.get("max_tokens", 1024)  # the host's --max-tokens holds here too
        high = max(8, min(1024, cap))
        max_tokens = gr.Slider(
            8, high, min(64, high), step=8, label="Max new tokens per answer", elem_id="eval-max-tokens"
        )
        button = gr.Button("Run", elem_id="eval-run", variant="primary")
    status = gr.Markdown(elem_id="eval-status")
    plots = gr.Gallery(label="Plots", elem_id="eval-plots", columns=3, height="auto", object_fit="contain")
    tables = gr.Markdown(elem_id="eval-tables")
    files = gr.File(label="Report (JSON and Markdown)", file_count="multiple", visible=False, elem_id="eval-files")
    button.click(
        evaluation.run,
        [max_tokens],
        [status, button, tables, plots, files],
        api_name="evaluate",
        concurrency_limit=1,
        concurrency_id="evaluation",
        show_progress="hidden",
    )
    return evaluation
