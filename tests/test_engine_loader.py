"""The batch order and the two loaders (in memory, streamed by worker processes): same batches."""

import numpy as np
import pytest
import torch

from vaediag.cli import main
from vaediag.engine.runs import Run
from vaediag.engine.batches import BatchOrder, default_workers, image_batches as _image_batches


def test_batch_order_is_a_permutation_per_epoch_and_drops_the_remainder():
    order = BatchOrder(10, 3, torch.Generator().manual_seed(0), torch.device("cpu"))
    batches = [order.next()[0] for _ in range(9)]  # 3 batches per epoch, the 10th example dropped
    for e in range(3):
        epoch = torch.cat(batches[3 * e:3 * e + 3])
        assert len(epoch) == 9 and len(set(epoch.tolist())) == 9 and epoch.max() < 10
    ref = torch.Generator().manual_seed(0)
    assert torch.equal(torch.cat(batches[:3]), torch.randperm(10, generator=ref)[:9])
    assert torch.equal(torch.cat(batches[3:6]), torch.randperm(10, generator=ref)[:9])


def test_a_copy_and_a_restored_order_continue_identically():
    order = BatchOrder(7, 2, torch.Generator().manual_seed(3), torch.device("cpu"))
    for _ in range(4):
        order.next()
    copy = order.copy()
    restored = BatchOrder(7, 2, torch.Generator().manual_seed(99), torch.device("cpu"))
    restored.restore(order.perm, order.pos, order.gen.get_state())
    ahead = [order.next()[0] for _ in range(10)]
    assert all(torch.equal(a, copy.next()[0]) for a in ahead)
    assert all(torch.equal(a, b.next()[0]) for a, b in zip(ahead, [restored] * 10))


def _argv(out, loader, extra=()):
    # the MLP: the loaders, not the network, are under test
    return ["train", "--preset", "quick", "--arch", "mlp", "--latent-dim", "8", "--steps", "12", "--stages", "1",
            "--log-every", "1", "--checkpoint-every", "100", "--quiet", "--loader", loader, "--workers", "2",
            "--out", str(out), *extra]


def test_streamed_batches_equal_in_memory_batches_also_across_a_resume(tmp_path, stop_at):
    assert main(_argv(tmp_path / "mem", "memory")) == 0
    stop_at(5)
    assert main(_argv(tmp_path / "stream", "stream")) == 1  # interrupted at step 5
    stop_at.disarm()
    assert main(["train", "--resume", str(tmp_path / "stream"), "--quiet"]) == 0
    a, b = Run.open(tmp_path / "mem"), Run.open(tmp_path / "stream")
    assert b.config.train.loader == "stream"
    ma, mb = a.read_metrics(1), b.read_metrics(1)
    for k in ("loss", "kl", "mse", "gamma"):
        np.testing.assert_array_equal(ma[k], mb[k], err_msg=k)
    sa, sb = a.load_checkpoint(1)["model"], b.load_checkpoint(1)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_auto_streams_memory_mapped_data_on_the_cpu_and_keeps_arrays_in_memory(tmp_path):
    from vaediag.data import Dataset

    arr = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=(20, 1, 8, 8))
    arr[:] = 1
    arr.flush()
    mapped = torch.from_numpy(np.load(tmp_path / "x.npy", mmap_mode="c"))
    cpu = torch.device("cpu")
    streamed = _image_batches(Dataset("m", mapped, mapped[:2], "image", {"storage": "memmap"}), 4, cpu, "auto", None)
    in_ram = _image_batches(Dataset("r", mapped.clone(), mapped[:2], "image"), 4, cpu, "auto", None)
    assert streamed.loader == "stream" and in_ram.loader == "memory"
    assert streamed.workers == default_workers() >= 1


@pytest.mark.parametrize("bad", [["--loader", "disk"], ["--workers", "-1"]])
def test_bad_loader_options_get_one_sentence(tmp_path, capsys, bad):
    code = main(["train", *bad, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_memory_mapped_celeba_streamed_by_workers_trains_as_in_memory(tmp_path, capsys):
    """A tiny CelebA folder decoded into its cache: --loader auto streams it (memory-mapped, on the
    CPU) with worker processes; the run equals the in-memory one bit for bit."""
    from test_data_imagecache import write_jpegs

    write_jpegs(tmp_path / "data", n=40)
    common = ["train", "--dataset", "celeba", "--data-dir", str(tmp_path / "data"), "--data-cache",
              str(tmp_path / "cache"), "--steps", "6", "--stages", "1", "--batch-size", "8", "--arch", "mlp",
              "--latent-dim", "4", "--log-every", "1", "--workers", "2", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "auto")]) == 0
    assert main([*common, "--loader", "memory", "--out", str(tmp_path / "mem")]) == 0
    assert capsys.readouterr().err.count("decoding") == 0  # --quiet: no progress bar while decoding
    auto, mem = Run.open(tmp_path / "auto"), Run.open(tmp_path / "mem")
    assert auto.config.train.data_cache == str(tmp_path / "cache") and any((tmp_path / "cache").iterdir())
    data = auto.dataset()
    assert data.info["storage"] == "memmap"
    assert _image_batches(data, 4, torch.device("cpu"), "auto", 2).loader == "stream"
    np.testing.assert_array_equal(auto.read_metrics(1)["loss"], mem.read_metrics(1)["loss"])
    sa, sb = auto.load_checkpoint(1)["model"], mem.load_checkpoint(1)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
