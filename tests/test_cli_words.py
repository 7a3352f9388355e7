"""Library errors name Python arguments; the command line reads them with its flags."""

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
