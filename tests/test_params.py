"""vae_lib.params: the named conversions agree with NumPy and round-trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_lib import params as P

LOGVAR = torch.linspace(-12, 12, 97, dtype=torch.float64)


def test_conversions_match_numpy():
    lv = LOGVAR.numpy()
    np.testing.assert_allclose(P.logvar_to_var(LOGVAR).numpy(), np.exp(lv), rtol=1e-14)
    np.testing.assert_allclose(P.logvar_to_std(LOGVAR).numpy(), np.sqrt(np.exp(lv)), rtol=1e-14)
    np.testing.assert_allclose(P.logvar_to_logstd(LOGVAR).numpy(), np.log(np.sqrt(np.exp(lv))), rtol=1e-12,
                               atol=1e-14)
    std = np.exp(np.linspace(-3, 3, 13))
    np.testing.assert_allclose(P.std_to_logvar(torch.from_numpy(std)).numpy(), np.log(std**2), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(P.var_to_logvar(torch.from_numpy(std)).numpy(), np.log(std), rtol=1e-12,
                               atol=1e-14)


def test_conversions_round_trip():
    torch.testing.assert_close(P.std_to_logvar(P.logvar_to_std(LOGVAR)), LOGVAR, rtol=0, atol=1e-13)
    torch.testing.assert_close(P.var_to_logvar(P.logvar_to_var(LOGVAR)), LOGVAR, rtol=0, atol=1e-13)
    # halving and doubling are exact in binary floating point
    assert torch.equal(P.logstd_to_logvar(P.logvar_to_logstd(LOGVAR)), LOGVAR)
    log_std = torch.linspace(-5, 5, 11, dtype=torch.float64)
    assert torch.equal(P.logvar_to_logstd(P.logstd_to_logvar(log_std)), log_std)


def test_conversions_are_mutually_consistent():
    std, var = P.logvar_to_std(LOGVAR), P.logvar_to_var(LOGVAR)
    torch.testing.assert_close(std**2, var, rtol=1e-14, atol=0)
    torch.testing.assert_close(torch.log(std), P.logvar_to_logstd(LOGVAR), rtol=0, atol=1e-14)


def test_float32_is_kept():
    lv = torch.zeros(3)
    for f in (P.logvar_to_std, P.logvar_to_var, P.logvar_to_logstd, P.logstd_to_logvar):
        assert f(lv).dtype == torch.float32
    assert P.std_to_logvar(torch.ones(3)).dtype == torch.float32


@pytest.mark.parametrize("f,name", [(P.std_to_logvar, "std"), (P.var_to_logvar, "var")])
def test_zero_scale_has_no_log_variance(f, name):
    with pytest.raises(ValueError, match=f"{name} must be strictly positive"):
        f(torch.tensor([1.0, 0.0]))
