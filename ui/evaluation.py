"""The Evaluation tab: the built-in prompt set, or one a user uploads, on the app's own engines.

Contract: ``evaluation_tab(comparison)`` builds the tab's components inside the current Blocks
and binds its events: choosing files checks the uploaded set at once (``Evaluation.check``: a
JSONL file and an optional zip of its media, through ``inference.evaluation.prompts.load_prompts``,
the command line's own check, so the same sentences), and Run (API name /evaluate) starts the
user's evaluation as a background task the server owns (``ui.evaluation_tasks``: one per user,
keyed by ``ui.queue.user``, so by the browser's cookie) and follows it: the uploaded set if there is
one, else the built-in set, through ``inference.evaluation.evaluate.run`` on the Comparison's
engines (greedy, seed 0, the same settings on every side, each side answering alone so the speed
table is never a race). Chat turns go on meanwhile (vLLM batches their requests with the
evaluation's; an answer timed beside one is marked and left out of the speed medians). The page
shows a status line with progress after every prompt (with a rough estimate of the time left,
``remaining``), keeps the Run button locked while it runs, and finally shows the summary, the
paired evidence (against the noise floor, worst prompts first) and per-prompt tables, the plots and
``report.json``/``report.md`` and the evidence card (``card.md``, ``card.html``) for download.
Closing the tab does not stop it: a page the same user opens later (same cookie) follows the
running evaluation, or shows its result, until they start another or it is evicted (6 hours, at
most ``KEEP_REPORTS`` finished ones kept). A second Run while theirs runs gets one sentence and
follows the running one. A bad set is one sentence in the status line; the uploads stay as they
are. One evaluation runs at a time in the whole app; another user's waits, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from inference.errors import DemoError
from inference.evaluation import report as eval_report
from inference.evaluation.evaluate import TIMING, run
from inference.evaluation.prompts import Prompt, load_prompts
from inference.inputs.chat import GenerationSettings, UserTurn
from inference.inputs.samples import EVALUATION, write_evaluation_set
from ui.evaluation_tasks import Outcome, Task, Tasks
from ui.preview import prune, scratch
from ui.queue import user as viewer
from ui.session import Comparison

log = logging.getLogger(__name__)

KEEP_REPORTS = 16  # report folders kept on disk (Gradio copies what it hands out)
CAPTIONS = {
    "agreement.png": "Token agreement with the reference, per prompt",
    "speed.png": "TTFT and decode speed per side",
    "divergence.png": "Where each answer departs from the reference",
    "worst.png": "Worst prompts first: KL divergence per token (teacher-forced)",
    "ceiling.png": "Bytes per decode step and the batch-1 ceiling, next to the measured speed-up",
}
DOWNLOADS = (".json", ".md", ".html")  # report.json, report.md, the evidence card (card.md, card.html)


def kinds(prompts: list[Prompt]) -> str:
    """ "image 2, text 1": how many prompts of each kind."""
    counts: dict[str, int] = {}
    for p in prompts:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))


def bar(done: int, total: int, width: int = 20) -> str:
    full = round(width * done / total) if total else width
    return "▰" * full + "▱" * (width - full)


def remaining(elapsed: float, done: int, total: int) -> str:
    """ " · about 2 min left": the prompts still to run at the pace of those done (their kinds differ,
    so it is a rough figure); empty when none are left."""
    if not done or done >= total:
        return ""
    left = elapsed / done * (total - done)
    said = f"{left:.0f} s" if left < 90 else f"{left / 60:.0f} min"
    return f" · about {said} left"


class Evaluation:
    def __init__(self, comparison: Comparison):
        self.comparison = comparison
        self._prompts: list[Prompt] | None = None
        self.tasks = Tasks(keep_finished=KEEP_REPORTS)  # each user's evaluation, running or finished
        self._one = asyncio.Lock()  # one evaluation runs at a time in the whole app

    def prompts(self) -> list[Prompt]:
        """The built-in set, its media written once per process."""
        if self._prompts is None:
            self._prompts = load_prompts(write_evaluation_set(scratch("evaluation-set")))
        return self._prompts

    def chosen(self, prompt_file: str | None, media_zip: str | None, folder: Path) -> tuple[list[Prompt], str]:
        """The uploaded set (its media unpacked into ``folder``), else the built-in set; its name."""
        if prompt_file is None:
            if media_zip is not None:
                raise DemoError("A media zip came without its prompt set: add the JSONL file, or remove the zip.")
            return self.prompts(), "built-in set"
        zipped = Path(media_zip) if media_zip is not None else None
        return load_prompts(Path(prompt_file), zipped, folder, beside=False), Path(prompt_file).name

    def check(self, prompt_file: str | None, media_zip: str | None) -> str:
        """The line under the uploads: which set Run will evaluate, or why the upload is refused."""
        if prompt_file is None and media_zip is None:
            return f"Run evaluates the built-in set ({len(EVALUATION)} prompts)."
        with tempfile.TemporaryDirectory(dir=scratch("evaluation-check")) as folder:
            try:
                prompts, name = self.chosen(prompt_file, media_zip, Path(folder))
            except DemoError as err:
                return f"⚠️ {err}"
        return f"✅ {name}: {len(prompts)} prompts ({kinds(prompts)}); Run evaluates this set."

    async def run(
        self,
        max_tokens: float,
        prompt_file: str | None = None,
        media_zip: str | None = None,
        request: gr.Request | None = None,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Outputs: status line, Run button, tables, plots, report files. Starts the user's evaluation
        as a background task (``ui.evaluation_tasks``) and follows it; the run counts as one of the
        viewer's turns (``ui.queue``: the per-user and per-address limits), held until it ends. While
        the user's previous one runs, one sentence says so and the page follows that one instead."""
        c, keep = self.comparison, [gr.skip()] * 3
        user = viewer(request)
        try:
            self.tasks.check(user)
        except DemoError as err:  # the user's previous one still runs: say so, then follow that one
            running = self.tasks.get(user)
            if running is not None:
                async for update in self._follow(running, max(0, len(running.lines) - 1), f"⚠️ {err}"):
                    yield update
            return
        if not c.pool.status.ready:
            yield "⚠️ The engines are still loading; run the evaluation once the status says ready.", gr.skip(), *keep
            return
        slot = contextlib.ExitStack()
        try:
            slot.enter_context(c.queue.admit(request))
        except DemoError as err:
            c.telemetry.refused(request, err, UserTurn("evaluation"))
            yield f"⚠️ Not run — {err}", gr.skip(), *keep
            return

        async def work(task: Task) -> Outcome:
            with slot:  # the viewer's turn, held until the evaluation ends (not until the page goes)
                return await self._work(task, max_tokens, prompt_file, media_zip)

        task = self.tasks.start(user, work)
        task.chosen["max_tokens"] = max_tokens
        async for update in self._follow(task, 0):
            yield update

    async def resume(self, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """On page load: the user's running evaluation (its latest line, then its progress) or the
        result of their last one, as the page that started it would show it; nothing otherwise."""
        task = self.tasks.get(viewer(request))
        if task is None:
            yield gr.skip(), gr.skip(), *[gr.skip()] * 3
            return
        async for update in self._follow(task, max(0, len(task.lines) - 1)):
            yield update

    def chosen_tokens(self, request: gr.Request) -> Any:
        """On page load: the slider at the value the user's running or last evaluation ran with."""
        task = self.tasks.get(viewer(request))
        if task is None or "max_tokens" not in task.chosen:
            return gr.skip()
        return gr.update(value=task.chosen["max_tokens"])

    async def _follow(self, task: Task, since: int, note: str = "") -> AsyncIterator[tuple[Any, ...]]:
        """The page's updates for ``task``: Run locked while it runs, each progress line, then the result."""
        keep, head = [gr.skip()] * 3, f"{note}  \n" if note else ""
        yield (
            head + (task.lines[-1] if task.lines else "⏳ Starting…"),
            gr.update(interactive=not task.running, value="Running…" if task.running else "Run"),
            *keep,
        )
        async for said in self.tasks.follow(task, since + 1 if task.lines else 0):
            if isinstance(said, str):
                yield head + said, gr.skip(), *keep
                continue
            unlock = gr.update(interactive=True, value="Run")
            if not said.files:  # refused or failed: the tables, plots and files stay as they are
                yield head + said.status, unlock, *keep
                return
            plots = gr.update(value=list(said.plots), visible=True)
            files = gr.update(value=list(said.files), visible=True)
            yield head + said.status, unlock, said.tables, plots, files

    async def _work(self, task: Task, max_tokens: float, prompt_file: str | None, media_zip: str | None) -> Outcome:
        """The evaluation itself (in the background): one at a time in the whole app."""
        c = self.comparison
        if self._one.locked():
            task.say("⏳ Waiting: another evaluation is running (one at a time); yours starts when it ends.")
        async with self._one:
            task.say("⏳ Preparing the prompt set…")
            media = Path(tempfile.mkdtemp(dir=scratch("evaluation-media"), prefix="set-"))
            try:
                prompts, source = await asyncio.to_thread(self.chosen, prompt_file, media_zip, media)
                settings = GenerationSettings(max_tokens=int(max_tokens), ignore_eos=c.settings.ignore_eos)
                outcomes, n, began = [], len(prompts), time.monotonic()
                evaluated = run(
                    c.pool.engines,
                    prompts,
                    settings,
                    video=c.video,
                    budget=c.budget,
                    limits=c.media_limits,
                    context=c.context,
                    stall_seconds=c.stall_seconds,
                )
                async for outcome in evaluated:
                    outcomes.append(outcome)
                    note = f" ⚠️ {outcome.error}" if outcome.error else ""
                    left = remaining(time.monotonic() - began, len(outcomes), n)
                    task.say(
                        f"⏳ {bar(len(outcomes), n)} {len(outcomes)}/{n} prompts{left} · {outcome.prompt.id}{note}"
                    )
                feet = [e.footprint for e in c.pool.engines]
                rep = await asyncio.to_thread(eval_report.build, c.pool.specs, feet, outcomes, settings, source, TIMING)
                root = scratch("evaluation")
                folder = Path(tempfile.mkdtemp(dir=root, prefix="report-"))
                paths = await asyncio.to_thread(eval_report.write, rep, folder)
                prune(root, KEEP_REPORTS)
            except DemoError as err:  # a bad upload: one sentence, the uploads kept
                return Outcome(f"⚠️ {err}")
            finally:
                shutil.rmtree(media, ignore_errors=True)
        summary = rep["summary"]
        done = f"✅ {summary['prompts']} prompts from the {source} evaluated at {settings.max_tokens} new tokens"
        done += f" each; speed timed {TIMING} (each side answering with no other side running)"
        if summary["failed_prompts"]:
            done += f" ({summary['failed_prompts']} could not be sent)"
        plots = tuple((str(p), CAPTIONS[p.name]) for p in paths if p.suffix == ".png")
        files = tuple(str(p) for p in paths if p.suffix in DOWNLOADS)
        return Outcome(done + ".", eval_report.markdown(rep, full=False), plots, files)


def evaluation_tab(comparison: Comparison) -> Evaluation:
    """The tab's components and its Run button's event, inside the current Blocks."""
    evaluation = Evaluation(comparison)
    gr.Markdown(
        "Runs a prompt set through every side with the same greedy settings, and reports token agreement, first "
        "divergence, |Δ log-prob|, speed and, where the answer is known, accuracy. The built-in set (charts, a "
        "receipt, counting, a scene, clips, text; media made by the project) runs unless you upload your own: "
        "JSON Lines, one prompt a line (`text`; optional `id`, `files` as named in the zip, `expect`: "
        "regular expressions a correct reply matches), with its images and videos in a zip. **Speed is timed "
        "each side alone** (one side, then the other), never as a race; chat keeps working meanwhile, and an "
        "answer timed beside a chat turn is left out of the speed figures. The report pairs the sides: flips "
        "with an exact test, KL divergence against a noise floor (BF16 against itself), 95 % intervals, the worst "
        "prompts first with a heat map, and the speed against the bytes-per-token ceiling; the **evidence card** "
        "(Markdown and one self-contained HTML page) sums it up."
    )
    with gr.Row():
        # no file_types: a wrong file gets the check's own sentence, not Gradio's "Invalid file type"
        prompt_file = gr.File(label="Your prompt set (JSONL)", elem_id="eval-set")
        media_zip = gr.File(label="Its media (zip)", elem_id="eval-media")
    chosen = gr.Markdown(evaluation.check(None, None), elem_id="eval-chosen")
    with gr.Row():
        cap = comparison.caps.get("max_tokens", 1024)  # the host's --max-tokens holds here too
        high = max(8, min(1024, cap))
        max_tokens = gr.Slider(
            8, high, min(64, high), step=8, label="Max new tokens per answer", elem_id="eval-max-tokens"
        )
        button = gr.Button("Run", elem_id="eval-run", variant="primary")
    status = gr.Markdown(elem_id="eval-status")
    # hidden until there are plots (an empty gallery carries an aria-label on a plain div: axe-core's
    # aria-prohibited-attr)
    plots = gr.Gallery(
        label="Plots", elem_id="eval-plots", columns=3, height="auto", object_fit="contain", visible=False
    )
    tables = gr.Markdown(elem_id="eval-tables")
    label = "Report (JSON and Markdown) and the evidence card (Markdown, self-contained HTML)"
    files = gr.File(label=label, file_count="multiple", visible=False, elem_id="eval-files")
    gr.on(
        [prompt_file.change, media_zip.change],
        evaluation.check,
        [prompt_file, media_zip],
        [chosen],
        show_progress="hidden",
        api_name="check_set",
    )
    shown = [status, button, tables, plots, files]
    # no Gradio limit: the handler starts a background task (one at a time in the app, one per user)
    # and only follows it; closing the tab ends the following, not the evaluation
    button.click(
        evaluation.run,
        [max_tokens, prompt_file, media_zip],
        shown,
        api_name="evaluate",
        concurrency_limit=None,
        show_progress="hidden",
    )
    # a page (re)opened by a user whose evaluation runs or has ended shows it (no triggers: on load only)
    gr.on(
        None, evaluation.resume, None, shown, concurrency_limit=None, show_progress="hidden", api_visibility="private"
    )
    gr.on(None, evaluation.chosen_tokens, None, [max_tokens], show_progress="hidden", api_visibility="private")
    return evaluation
