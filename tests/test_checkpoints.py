"""vae_lib.checkpoints.save_checkpoint / load_checkpoint: every bad file or argument gives a clear error
naming the path, corruption is caught by the stored SHA-256, and saves leave no temporaries behind."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vae_lib import checkpoints as C
from vae_lib import training as T
from vae_lib.models import VAE, AutoEncoder, ModelConfig

C10 = ModelConfig(input_dim=16, hidden_dim=8, latent_dim=10)
C20 = ModelConfig(input_dim=16, hidden_dim=8, latent_dim=20)
REPO = Path(__file__).resolve().parents[1]


def vae(config=C10, seed=0):
    torch.manual_seed(seed)
    return VAE(config)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(model, saved):
    return all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def p(path):
    """A path as a regular expression."""
    return re.escape(str(path))


@pytest.fixture
def saved(tmp_path):
    """A VAE checkpoint with a history, and the model that wrote it."""
    model = vae(seed=1)
    history = T.History({"train/loss": [3.5, 2.25], "train/kl": [0.5, 0.75]})
    path = tmp_path / "vae.pt"
    C.save_checkpoint(path, model, history)
    return path, model, history


# --- Round trips (so the error tests below fail for their damage alone) ----------------------------


def test_round_trip_restores_weights_and_history(saved):
    path, model, history = saved
    fresh = vae(seed=2)
    assert C.load_checkpoint(path, fresh).terms == history.terms
    assert same_weights(fresh, weights(model))


def test_round_trip_of_a_plain_module_without_config(tmp_path):
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    C.save_checkpoint(tmp_path / "lin.pt", a)
    assert C.load_checkpoint(tmp_path / "lin.pt", b).terms == {}
    assert same_weights(b, weights(a))


def test_numpy_numbers_in_the_history_are_stored_as_floats(tmp_path):
    # np.float64 is a float, but weights_only=True refuses to unpickle it
    path = tmp_path / "vae.pt"
    C.save_checkpoint(path, vae(), T.History({"train/loss": [np.float64(1.5), 2]}))
    terms = C.load_checkpoint(path, vae()).terms
    assert terms == {"train/loss": [1.5, 2.0]} and all(type(v) is float for v in terms["train/loss"])


# --- load_checkpoint: files that are not checkpoints -----------------------------------------------


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"checkpoint {p(tmp_path / 'nope.pt')} not found"):
        C.load_checkpoint(tmp_path / "nope.pt", vae())


def test_load_empty_file(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=f"{p(tmp_path / 'empty.pt')} is empty \\(0 bytes\\), not a checkpoint"):
        C.load_checkpoint(tmp_path / "empty.pt", vae())


@pytest.mark.parametrize("damage", [
    lambda raw: raw[: len(raw) // 2],  # truncated: torch raises RuntimeError
    lambda raw: raw[:-20],  # the zip's central directory cut off
    lambda raw: np.random.default_rng(0).bytes(len(raw)),  # random bytes: UnpicklingError
    lambda raw: b"model weights, honest",  # text: torch raises KeyError
], ids=["half", "tail", "random", "text"])
def test_load_unreadable_file(saved, damage):
    path, _, _ = saved
    path.write_bytes(damage(path.read_bytes()))
    model = vae(seed=2)
    before = weights(model)
    with pytest.raises(ValueError, match=f"{p(path)} is not a readable checkpoint: it is truncated or corrupt"):
        C.load_checkpoint(path, model)
    assert same_weights(model, before)


class _Payload:
    """Unpickling this runs code: a file holding one must be refused, not executed."""

    def __reduce__(self):
        return (Path.touch, (Path(os.environ["VAE_LIB_TEST_MARKER"]),))


def test_load_never_runs_code_from_the_file(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    monkeypatch.setenv("VAE_LIB_TEST_MARKER", str(marker))
    path = tmp_path / "evil.pt"
    torch.save({"kind": "VAE", "payload": _Payload()}, path)
    with pytest.raises(ValueError, match=f"{p(path)} is not a readable checkpoint.*never unpickled"):
        C.load_checkpoint(path, vae())
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: this is what the loader must not do
    assert marker.exists()


def test_load_plain_tensor(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "t.pt")
    with pytest.raises(ValueError, match=f"{p(tmp_path / 't.pt')} is not a vae_lib checkpoint: it holds a Tensor; "
                                         "expected a dict with keys \\['kind', 'config', 'state_dict'"):
        C.load_checkpoint(tmp_path / "t.pt", vae())


def test_load_foreign_dict(tmp_path):
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "f.pt")
    with pytest.raises(ValueError, match=f"{p(tmp_path / 'f.pt')} is not a vae_lib checkpoint: it holds a dict "
                                         "with keys \\['epoch', 'optimizer'\\]"):
        C.load_checkpoint(tmp_path / "f.pt", vae())


def test_load_bare_state_dict_says_how_to_load_it(tmp_path):
    torch.save(vae().state_dict(), tmp_path / "sd.pt")
    with pytest.raises(ValueError, match="is not a vae_lib checkpoint.*a bare state_dict\\? load it with "
                                         "model.load_state_dict"):
        C.load_checkpoint(tmp_path / "sd.pt", vae())


def test_load_checkpoint_without_checksum(saved):
    path, _, _ = saved
    state = torch.load(path, weights_only=True)
    del state["sha256"]  # the layout vae_lib 0.1 wrote
    torch.save(state, path)
    with pytest.raises(ValueError, match=f"{p(path)} has no checksum: it was written by vae_lib 0.1"):
        C.load_checkpoint(path, vae())


@pytest.mark.parametrize("key, value", [
    ("state_dict", [torch.zeros(2)]),
    ("state_dict", {"w": 1.0}),
    ("history", {"train/loss": "high"}),
    ("config", {"latent_dim": torch.tensor(3)}),
    ("kind", 7),
    ("sha256", None),
])
def test_load_entries_of_the_wrong_type(saved, key, value):
    path, _, _ = saved
    state = torch.load(path, weights_only=True)
    state[key] = value
    torch.save(state, path)
    with pytest.raises(ValueError, match=f"{p(path)} is not a vae_lib checkpoint: its entries have the "
                                         "wrong types"):
        C.load_checkpoint(path, vae())


# --- load_checkpoint: corruption is caught by the stored SHA-256 -----------------------------------


def _tamper(path, change):
    """Change the stored state and re-save it without updating its checksum."""
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


@pytest.mark.parametrize("change", [
    lambda s: s["state_dict"]["decoder.0.weight"].view(-1)[5].add_(1e-6),
    lambda s: s["state_dict"]["encoder_head.bias"].view(torch.int32)[0].bitwise_xor_(1),  # one flipped bit
    lambda s: s["history"]["train/loss"].__setitem__(0, 3.0),
    lambda s: s["config"].__setitem__("hidden_dim", 9),
    lambda s: s.__setitem__("kind", "AutoEncoder"),
], ids=["value", "bit", "history", "config", "kind"])
def test_load_detects_a_tampered_payload(saved, change):
    path, _, _ = saved
    _tamper(path, change)
    model = vae(seed=2)
    before = weights(model)
    with pytest.raises(ValueError, match=f"{p(path)} is corrupt: its contents do not match the SHA-256"):
        C.load_checkpoint(path, model)
    assert same_weights(model, before)


def test_load_detects_a_flipped_byte_in_the_file(saved):
    # torch stores tensors uncompressed and does not notice: the checksum must
    path, model, _ = saved
    raw = bytearray(path.read_bytes())
    at = raw.find(model.state_dict()["decoder.2.bias"].numpy().tobytes())
    assert at > 0
    raw[at + 3] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=f"{p(path)} is corrupt"):
        C.load_checkpoint(path, vae())


# --- load_checkpoint: another architecture ----------------------------------------------------------


def _refused_and_unchanged(path, model, match):
    """Loading ``path`` into ``model`` fails with ``match`` and copies no weight."""
    before = weights(model)
    with pytest.raises(ValueError, match=match):
        C.load_checkpoint(path, model)
    assert same_weights(model, before)


def test_load_vae_with_another_latent_dim(tmp_path):
    path = tmp_path / "vae10.pt"
    C.save_checkpoint(path, vae(C10))
    _refused_and_unchanged(path, vae(C20), f"{p(path)}: checkpoint holds a VAE with config .*'latent_dim': 10.*, "
                                           "but model has config .*'latent_dim': 20")


def test_load_autoencoder_into_vae(tmp_path):
    path = tmp_path / "ae.pt"
    C.save_checkpoint(path, AutoEncoder(C10))
    with pytest.raises(ValueError, match=f"{p(path)}: checkpoint holds a AutoEncoder, but model is a VAE"):
        C.load_checkpoint(path, vae())


def _mlp(*sizes):
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])


def test_load_mismatched_shapes_leaves_the_model_unchanged(tmp_path):
    # no config to compare: the tensors are checked one by one, before any is copied
    # (torch's load_state_dict would copy the matching first layer, then raise)
    path = tmp_path / "mlp.pt"
    C.save_checkpoint(path, _mlp(4, 3, 2))
    model = _mlp(4, 3, 5)
    with torch.no_grad():
        model[0].weight.fill_(7.0)
    _refused_and_unchanged(path, model, f"{p(path)} does not fit model \\(another architecture\\?\\): .*1.weight "
                                        "has shape \\(2, 3\\) in the checkpoint but \\(5, 3\\) in model")


def test_load_missing_and_unexpected_tensors(tmp_path):
    path = tmp_path / "mlp.pt"
    C.save_checkpoint(path, _mlp(4, 3, 2))
    with pytest.raises(ValueError, match="does not fit model.*missing \\['2.bias', '2.weight'\\]"):
        C.load_checkpoint(path, _mlp(4, 3, 2, 2))
    with pytest.raises(ValueError, match="does not fit model.*unexpected \\['1.bias', '1.weight'\\]"):
        C.load_checkpoint(path, _mlp(4, 3))


def test_load_into_another_dtype(tmp_path):
    path = tmp_path / "mlp.pt"
    C.save_checkpoint(path, _mlp(4, 3))
    with pytest.raises(ValueError, match="0.bias is torch.float32 in the checkpoint but torch.float64 in model"):
        C.load_checkpoint(path, _mlp(4, 3).double())


# --- Arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda path: C.save_checkpoint(path, {"w": torch.zeros(2)}),
    lambda path: C.load_checkpoint(path, {"w": torch.zeros(2)}),
], ids=["save", "load"])
def test_model_must_be_a_module(tmp_path, call):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got dict"):
        call(tmp_path / "m.pt")


@pytest.mark.parametrize("call", [
    lambda path: C.save_checkpoint(path, vae()),
    lambda path: C.load_checkpoint(path, vae()),
], ids=["save", "load"])
def test_path_must_be_a_file_name(tmp_path, call):
    with pytest.raises(ValueError, match=f"path {p(tmp_path)} is a directory; pass a file name such as "
                                         f"{p(tmp_path / 'model.pt')}"):
        call(tmp_path)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        call(3)


def test_history_must_be_a_history(tmp_path):
    path = tmp_path / "vae.pt"
    with pytest.raises(TypeError, match="history must be a History or None, got dict"):
        C.save_checkpoint(path, vae(), {"train/loss": [1.0]})
    with pytest.raises(TypeError, match="history\\['train/loss'\\] must be a list of numbers under a str key, "
                                        "got \\['low'\\]"):
        C.save_checkpoint(path, vae(), T.History({"train/loss": ["low"]}))
    with pytest.raises(TypeError, match="history\\['train/kl'\\] must be a list of numbers"):
        C.save_checkpoint(path, vae(), T.History({"train/kl": torch.ones(2)}))
    assert not path.exists()


def test_state_must_hold_tensors_only(tmp_path):
    class WithExtraState(nn.Linear):
        def get_extra_state(self):
            return {"note": "not a tensor"}

        def set_extra_state(self, state):
            pass

    with pytest.raises(TypeError, match="model.state_dict\\(\\)\\['_extra_state'\\] is a dict; a checkpoint "
                                        "stores tensors only"):
        C.save_checkpoint(tmp_path / "x.pt", WithExtraState(2, 2))


# --- save_checkpoint: durable, atomic, and no temporaries left behind ------------------------------


def test_save_syncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst):
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    C.save_checkpoint(tmp_path / "vae.pt", vae())
    expected = ["fsync file", "replace", "fsync folder"] if os.name == "posix" else ["fsync file", "replace"]
    assert events == expected


def test_save_writes_to_a_temporary_recognisably_ours(tmp_path, monkeypatch):
    seen = []

    def broken_save(obj, f, *args, **kwargs):
        seen.extend(p.name for p in tmp_path.iterdir())
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        C.save_checkpoint(tmp_path / "vae.pt", vae())
    assert len(seen) == 1 and re.fullmatch(rf"\.vae\.pt\.{os.getpid()}\.[a-z0-9_]+\.tmp", seen[0])
    assert list(tmp_path.iterdir()) == []  # and a failed save removes it


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()  # reaped: no process has this id any more
    return child.pid


@pytest.mark.skipif(os.name != "posix", reason="stale temporaries are recognised by their process id on POSIX")
def test_save_removes_stale_temporaries_of_the_same_target_only(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f".vae.pt.{dead}.k3j_9x2a.tmp"
    keep = [
        f".vae.pt.{alive}.abcd1234.tmp",  # a save in progress (another thread): still live
        f".other.pt.{dead}.abcd1234.tmp",  # another target's
        f".vae.pt.5.{dead}.abcd1234.tmp",  # the target "vae.pt.5"'s, not ours
        f".vae.pt.{dead}.abcd1234.tmp.bak",
        "vae.pt.tmp",
        "notes.tmp",
    ]
    for name in [stale.name, *keep]:
        (tmp_path / name).write_bytes(b"half a checkpoint")
    C.save_checkpoint(tmp_path / "vae.pt", vae())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["vae.pt", *keep])


_KILLED_SAVE = """
import sys, time, torch
from vae_lib import checkpoints as C
from vae_lib import training as T
from vae_lib.models import VAE, ModelConfig

def stuck(obj, f, *args, **kwargs):
    f.write(b"half a checkpoint")
    f.flush()
    print("saving", flush=True)
    time.sleep(600)

torch.save = stuck
C.save_checkpoint(sys.argv[1], VAE(ModelConfig(input_dim=16, hidden_dim=8, latent_dim=10)))
"""


@pytest.mark.skipif(os.name != "posix", reason="stale temporaries are recognised by their process id on POSIX")
def test_a_save_killed_midway_leaves_the_old_file_and_the_next_save_cleans_up(saved):
    path, model, history = saved
    before = path.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(path)], cwd=REPO, stdout=subprocess.PIPE,
                             text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert child.stdout.readline() == "saving\n"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    orphans = [p.name for p in path.parent.glob(".vae.pt.*.tmp")]
    assert orphans and all(f".{child.pid}." in name for name in orphans)  # SIGKILL: nothing could clean up
    assert path.read_bytes() == before  # the old checkpoint is untouched
    C.save_checkpoint(path, model, history)
    assert [p.name for p in path.parent.iterdir()] == ["vae.pt"]
    assert C.load_checkpoint(path, vae(seed=3)).terms == history.terms
