"""`vaediag theory`: registered, and a bad argument is one line with exit 1 or 2."""

import pytest

from vaediag.cli import main


@pytest.mark.parametrize("argv,needle,status", [  # docs/cli.md: 2 usage, 1 something missing
    (["theory", "--seed", "-1"], "--seed -1 is not a seed", 2),
    (["theory", "--json", "/nonexistent-dir/x.json"], "does not exist", 1),
    (["theory", "--threads", "0"], "give --threads of at least 1", 2),
    (["theory", "--device", "cuda"], "no CUDA device", 1),
    (["theory", "--seed", "abc"], "invalid int value", 2),
    (["theory", "--jobs", "3"], "invalid choice", 2),
])
def test_bad_arguments_give_one_line_and_exit_1_or_2(argv, needle, status, capsys):
    import torch

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(SystemExit) as e:
        code = main(argv)
        raise SystemExit(code)
    assert e.value.code == status
    err = capsys.readouterr().err.strip()
    assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_theory_verb_is_registered(capsys):
    assert main(["theory", "--help"]) == 0
    out = capsys.readouterr().out
    text = " ".join(out.split())
    assert "--quick" in text and "Exit status 0 if no check fails, 1 if any fails" in text
    assert "alternative | margin | se | verdict" in text and "at least 2 standard errors" in text
