"""Library errors name Python arguments; the command line reads them with its flags."""

import pytest

from vaediag.cli.words import FLAGS, in_flags


def test_arguments_become_flags_with_their_values():
    assert in_flags("n=1 is too few inputs: give n= of at least 2") == "--n 1 is too few inputs: give --n of at least 2"
    assert in_flags("tau=0 is not a threshold: give a positive tau=") == "--tau 0 is not a threshold: give a positive --tau"
    assert in_flags("skip the IW log-likelihood (iw=False)") == "skip the IW log-likelihood (--no-iw)"
    assert (in_flags("json_path=my dir/s.json: the folder my dir does not exist")
            == "--json my dir/s.json: the folder my dir does not exist")  # the rest of a path stays as written


def test_budgets_become_their_flags():
    msg = ("needs about 3 s and 2 GB, over budgets=vaediag.Budgets(max_memory_gb=0.5), most of it for the "
           "perturbations: lower budgets=vaediag.Budgets(perturb_directions=...) (now 16; default 16), or raise "
           "budgets=vaediag.Budgets(max_memory_gb=...)")
    assert in_flags(msg) == ("needs about 3 s and 2 GB, over --max-memory-gb 0.5, most of it for the perturbations: "
                             "lower --perturb-directions (now 16; default 16), or raise --max-memory-gb")
    assert in_flags("budgets=vaediag.Budgets(max_seconds=-1) is not a limit: give a positive number, or None "
                    "(no limit)") == "--max-seconds -1 is not a limit: give a positive number, or 0 (no limit)"
    assert "--spectrum-dims" in in_flags("pass budgets=vaediag.Budgets(...) to change them")


def test_words_that_are_not_arguments_stay():
    for text in ("n = 300: the held-out set", "x.n=3 and my_n=2", "latent=4", "an=5"):
        assert in_flags(text) == text
    assert all(flag.startswith("--") for flag in FLAGS.values())


def test_every_flag_exists_on_the_command_line():
    from vaediag.cli import build_parser

    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    known = {opt for p in verbs.values() for a in p._actions for opt in a.option_strings}
    assert set(FLAGS.values()) | {"--no-iw", "--overwrite"} <= known


def test_each_training_option_reads_as_its_flag():
    from vaediag.engine.config import TRAIN_FIELDS

    for name in TRAIN_FIELDS:  # the names vaediag.train takes, each the flag of `vaediag train` spelled with -
        flag = "--" + name.replace("_", "-")
        assert in_flags(f"{name}= must be a positive number, got -1", "train") == f"{flag} must be a positive number, got -1"
        assert in_flags(f"{name}=7 is too many", "train") == f"{flag} 7 is too many"
    assert in_flags("stage2_width= must be a positive integer, got 0", "stage2") == "--stage2-width must be a positive integer, got 0"
    assert in_flags("with stages='2' only stage-2 options", "train") == "with --stages 2 only stage-2 options"


def test_each_mapped_name_reads_as_its_flag_on_a_verb_that_has_it():
    from vaediag.cli.words import verb_options

    for name, flag in FLAGS.items():
        verbs = [v for v in ("diagnose", "train", "sample", "stage2", "fid", "theory", "demo") if flag in verb_options(v)]
        assert verbs, flag
        assert in_flags(f"{name}=3 is wrong", verbs[0]) == f"{flag} 3 is wrong"
    assert in_flags("codes=c.npz does not exist", "stage2") == "--posteriors c.npz does not exist"


def test_a_name_the_verb_has_no_flag_for_stays_as_written():
    # adapt(gamma=...) is not `vaediag train --gamma`: under diagnose, which has no --gamma, it stays
    assert in_flags("gamma= must be a positive number (the decoder VARIANCE)", "diagnose") == \
        "gamma= must be a positive number (the decoder VARIANCE)"
    assert in_flags("latent_dim= must be at least 1, got 0", "figure1") == "latent_dim= must be at least 1, got 0"
    assert in_flags("n=1 is too few", "nonsense") == "n=1 is too few"


def test_suggested_calls_read_as_commands():
    assert in_flags("continue it with vaediag.resume('runs/a')") == "continue it with 'vaediag train --resume runs/a'"
    assert (in_flags("train it with vaediag.train('runs/my run', stages='2') or drop stage2")
            == "train it with 'vaediag train --out \"runs/my run\" --stages 2' or drop stage2")
    assert in_flags("run vaediag.fid('r') (or with proxy=True) first", "table") == \
        "run 'vaediag fid --run r' (or with --proxy) first"
    assert in_flags("run vaediag.fid('r') (or with proxy=True) first", "sample") == \
        "run 'vaediag fid --run r' (or with proxy=True) first"  # `vaediag sample` has no --proxy
    assert (in_flags("or run vaediag.cache(dataset='celeba', data_dir='d', seed=3, test_fraction=0.2, rebuild=True)")
            == "or run 'vaediag cache --dataset celeba --data-dir d --seed 3 --test-fraction 0.2 --rebuild'")
    assert (in_flags("train it with vaediag.stage2('runs/s', resume=True)")  # stage2 resumes by --resume RUN
            == "train it with 'vaediag stage2 --resume runs/s'")
    for text in ("vaediag.load_two_stage('r', model)", "vaediag.resume('a', 'b')", "vaediag.fid('r', sources=x)",
                 "vaediag.train(out)"):
        assert in_flags(text) == text  # no command says the same: the call stays


def test_each_suggested_call_exists_in_python_and_as_a_verb():
    import inspect

    import vaediag
    from vaediag.cli.words import COMMANDS, verb_options

    for fn, (verb, first) in COMMANDS.items():
        params = list(inspect.signature(getattr(vaediag, fn)).parameters)
        assert verb_options(verb), verb
        assert first is None or first in verb_options(verb)
        assert first is None or params[0] in ("out", "run"), fn


@pytest.mark.parametrize("python, argv, facts_cli", [
    ({"lr": -1.0}, ["--lr", "-1"], ("--lr", "-1")),
    ({"stage2_batch_size": 0}, ["--stage2-batch-size", "0"], ("--stage2-batch-size", "0")),
    ({"test_fraction": 1.5}, ["--test-fraction", "1.5"], ("--test-fraction", "1.5")),
    ({"steps": 5, "epochs": 2.0}, ["--steps", "5", "--epochs", "2"], ("--steps", "--epochs")),
])
def test_a_config_mistake_names_the_argument_in_python_and_the_flag_on_the_command_line(
        tmp_path, capsys, python, argv, facts_cli):
    import vaediag
    from vaediag.cli import main

    with pytest.raises(vaediag.UsageError) as e:
        vaediag.train(tmp_path / "py", **python)
    assert "--" not in str(e.value) and all(f"{k}=" in str(e.value) for k in python)
    assert main(["train", *argv, "--out", str(tmp_path / "cli")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vaediag train: error: ") and all(f in err for f in facts_cli)
    assert not (tmp_path / "py").exists() and not (tmp_path / "cli").exists()
