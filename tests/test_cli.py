"""The command line's sides: labels, models, server URLs and backends (``app.resolve_specs``), and the
variables that set every option."""

from __future__ import annotations

import pytest

import app
from inference.deploy import sides as deploy_sides
from inference.deploy.command_line import parser


def sides(*argv: str) -> list[tuple[str, str, str, str | None]]:
    return [(s.label, s.model, s.backend, s.endpoint) for s in app.resolve_specs(app.parse_args(list(argv)))]


def test_a_side_given_as_a_url_runs_on_that_server_and_the_other_in_process(tiny_dir):
    got = sides("--device", "cpu", "--model", f"FP8={tiny_dir / 'fp8'}", "--model", "BF16=http://gpu-box:8000/v1/")
    assert got == [("FP8", str(tiny_dir / "fp8"), "vllm", None), ("BF16", "", "remote", "http://gpu-box:8000/v1")]


def test_an_unlabelled_url_is_named_by_its_host(tiny_dir):
    got = sides("--device", "cpu", "--model", "http://10.0.0.5:8001/v1", "--model", str(tiny_dir / "bf16"))
    assert [g[0] for g in got] == ["10.0.0.5:8001", "bf16"]


def test_backend_for_every_side_or_one_label(tiny_dir):
    assert {s[2] for s in sides("--device", "cpu", "--backend", "vllm")} == {"vllm"}
    assert [s[2] for s in sides("--device", "cpu", "--backend", "BF16=vllm")] == ["vllm", "vllm"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "tensorrt"], "--backend tensorrt: unknown"),
        (["--backend", "remote"], "--backend remote: unknown"),  # a server side is given by its URL
        (["--backend", "XL=vllm"], "no side is labelled XL"),
    ],
)
def test_a_wrong_backend_stops_the_app_with_a_message(tiny_dir, argv, message):
    with pytest.raises(SystemExit, match=message):
        sides("--device", "cpu", *argv)


def test_a_url_side_on_a_gpu_is_left_out_of_the_memory_plan(monkeypatch):
    planned = []
    monkeypatch.setattr(deploy_sides, "plan_gpu_memory", lambda specs: planned.extend(specs) or specs)
    got = sides("--device", "cuda", "--model", "FP8=org/fp8", "--model", "BF16=https://bf16.example/v1")
    assert [s.label for s in planned] == ["FP8"]
    assert [g[2] for g in got] == ["vllm", "remote"]


# --- every option from the environment (a Space is configured by its variables) -----------------


def test_every_option_has_a_demo_variable_named_in_help(capsys):
    with pytest.raises(SystemExit):
        app.parse_args(["--help"])
    shown = capsys.readouterr().out
    flags = {a.option_strings[-1] for a in parser()._actions if a.option_strings and a.dest != "help"}
    assert len(flags) >= 18
    for flag in flags:
        assert f"[DEMO_{flag[2:].replace('-', '_').upper()}]" in " ".join(shown.split()), flag
    assert "vllm, transformers" in " ".join(shown.split())  # the backends one can choose


def test_variables_set_defaults_and_the_command_line_wins():
    env = {"DEMO_MAX_TOKENS": "64", "DEMO_IGNORE_EOS": "1", "DEMO_VIDEO_BACKEND": "decord", "DEMO_USER_RUNNING": "0"}
    env |= {"DEMO_MODEL": "FP8=/a BF16=/b", "DEMO_BACKEND": "BF16=transformers"}
    args = app.parse_args([], env)
    gen = args.generation
    assert (gen.max_tokens, gen.ignore_eos, gen.video_backend, args.limits.user_running) == (64, True, "decord", 0)
    assert args.models.model == ("FP8=/a", "BF16=/b") and args.models.backend == ("BF16=transformers",)
    args = app.parse_args(["--max-tokens", "8", "--model", "X=/c"], env)
    assert args.generation.max_tokens == 8 and args.models.model == ("X=/c",)  # not added to the environment's


def test_gradio_server_name_and_port_are_honoured_and_demo_variables_win():
    net = app.parse_args([], {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}).network
    assert (net.host, net.port) == ("0.0.0.0", 7861)
    net = app.parse_args([], {"GRADIO_SERVER_PORT": "7861", "DEMO_PORT": "7862"}).network
    assert (net.host, net.port) == ("127.0.0.1", 7862)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEMO_PORT": "eighty"}, "DEMO_PORT='eighty': not a valid int."),
        ({"DEMO_IGNORE_EOS": "maybe"}, "DEMO_IGNORE_EOS='maybe': say 1 or 0."),
        ({"DEMO_DEVICE": "tpu"}, "DEMO_DEVICE='tpu': choose one of auto, cuda, cpu."),
    ],
)
def test_a_bad_variable_stops_the_app_with_one_sentence_naming_it(env, message):
    with pytest.raises(SystemExit) as stopped:
        app.parse_args([], env)
    assert stopped.value.code == message


def test_a_remote_side_takes_its_key_from_the_variable_named_and_never_shows_it(tiny_dir, monkeypatch):
    monkeypatch.setenv("BF16_KEY", "sk-very-secret")
    argv = ["--device", "cpu", "--model", f"FP8={tiny_dir / 'fp8'}", "--model", "BF16=http://gpu-box:8000/v1"]
    specs = app.resolve_specs(app.parse_args([*argv, "--api-key-env", "BF16=BF16_KEY"]))
    assert [s.api_key for s in specs] == [None, "sk-very-secret"]
    assert "sk-very-secret" not in repr(specs) and "sk-very-secret" not in specs[1].title
    # from the environment too, as a Space sets it: the variable holds the name, never the key
    monkeypatch.setenv("DEMO_API_KEY_ENV", "BF16=BF16_KEY")
    assert app.resolve_specs(app.parse_args(argv))[1].api_key == "sk-very-secret"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("BF16=NOT_SET_ANYWHERE", "--api-key-env BF16=NOT_SET_ANYWHERE: the environment variable NOT_SET_ANYWHERE"),
        ("FP8=BF16_KEY", r"FP8 is not a side served by a URL \(those are: BF16\)"),
        ("BF16", "give it as LABEL=VARIABLE"),
    ],
)
def test_a_wrong_api_key_variable_stops_the_app_with_one_sentence(tiny_dir, monkeypatch, given, message):
    monkeypatch.setenv("BF16_KEY", "sk-very-secret")
    argv = ["--device", "cpu", "--model", f"FP8={tiny_dir / 'fp8'}", "--model", "BF16=http://gpu-box:8000/v1"]
    with pytest.raises(SystemExit, match=message) as stopped:
        app.resolve_specs(app.parse_args([*argv, "--api-key-env", given]))
    assert "sk-very-secret" not in str(stopped.value)


def test_an_api_key_without_a_remote_side_stops_the_app(tiny_dir, monkeypatch):
    monkeypatch.setenv("BF16_KEY", "sk-very-secret")
    with pytest.raises(SystemExit, match="--api-key-env is for sides served by a URL"):
        app.resolve_specs(app.parse_args(["--device", "cpu", "--api-key-env", "BF16=BF16_KEY"]))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-sessions", "0"], "--max-sessions (DEMO_MAX_SESSIONS): needs at least 1."),
        (
            ["--closed-session-minutes", "-1"],
            "--closed-session-minutes (DEMO_CLOSED_SESSION_MINUTES): needs at least 0.",
        ),
    ],
)
def test_a_session_limit_out_of_range_stops_the_app_with_one_sentence(argv, message):
    with pytest.raises(SystemExit) as stopped:
        app.parse_args(argv, {})
    assert stopped.value.code == message


def test_the_votes_key_comes_from_the_variable_named_and_a_missing_one_stops_the_app(monkeypatch):
    monkeypatch.setenv("HOST_VOTES_KEY", "k-123")
    assert app.votes_key("HOST_VOTES_KEY", {"HOST_VOTES_KEY": "k-123"}) == "k-123"
    assert app.votes_key("", {}) is None  # no download unless the host asks for one
    with pytest.raises(SystemExit, match="--votes-key-env NOPE: the environment variable NOPE is not set") as stopped:
        app.votes_key("NOPE", {})
    assert "k-123" not in str(stopped.value)
    assert app.parse_args(["--votes-key-env", "HOST_VOTES_KEY"]).storage.votes_key_env == "HOST_VOTES_KEY"


# --- the evaluation's sides: the app's models options, from the same schema -------------------


def test_the_evaluations_side_options_are_the_apps_with_the_same_help():
    from inference.evaluation.evaluate import parser as evaluation_parser

    def models(p) -> dict[str, str]:
        (group,) = [g for g in p._action_groups if g.title == "models"]
        return {a.option_strings[-1]: a.help for a in group._group_actions}

    assert models(evaluation_parser()) == models(parser()) and "--api-key-env" in models(parser())


def test_the_evaluation_reads_a_sides_key_and_its_device_as_the_app_does(tiny_dir):
    from inference.evaluation.evaluate import parse_args, sides

    argv = ["--builtin", "--out", "x", "--model", f"FP8={tiny_dir / 'fp8'}", "--model", "BF16=http://gpu-box:8000/v1"]
    environ = {"DEMO_DEVICE": "cpu", "BOX_KEY": "sk-evaluation", "DEMO_API_KEY_ENV": "BF16=BOX_KEY"}
    fp8, bf16 = sides(parse_args(argv), environ)
    assert (fp8.backend, bf16.backend, bf16.endpoint, bf16.api_key) == (
        "vllm",
        "remote",
        "http://gpu-box:8000/v1",
        "sk-evaluation",
    )
    assert bf16.reference and not fp8.reference
    assert (fp8.label, fp8.model) == ("FP8", str(tiny_dir / "fp8")) and fp8.engine_args.get("device", "cpu") == "cpu"
