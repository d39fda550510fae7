"""One model-config check, the same for fit options and the .nerv reader."""

import pytest
from codec.conftest import tiny_nerv

from nervplayer.codec import nervfile
from nervplayer.errors import ConfigError, NervFormatError
from nervplayer.model import model_config
from nervplayer.model.config import MAX_SIDE, STRIDE_RANGE, check_model_config


@pytest.mark.parametrize(
    "override, message",
    [
        ({"strides": 5}, "model strides must be a list"),
        ({"strides": [STRIDE_RANGE[1] + 1]}, "model strides must be a list"),
        ({"fc_c": 0}, "model fc_c must be an integer in [1, 65536], got 0"),
        ({"fc_c": 2.5}, "model fc_c must be an integer"),
        ({"pe_base": "x"}, "model pe_base must be a number"),
        ({"expansion": 0}, "model expansion must be a number"),
        ({"bogus": 1}, "unknown model option(s) bogus"),
        ({"fc_h": MAX_SIDE}, "exceeds 16384"),
    ],
)
def test_fit_overrides_and_reader_reject_the_same_values(override, message):
    with pytest.raises(ConfigError, match=None) as fit_error:
        model_config("nerv-xs", 64, 64, **override)
    assert message in str(fit_error.value)
    nf = tiny_nerv()
    header = nf.header()
    header["model"].update(override)
    with pytest.raises(NervFormatError) as read_error:
        nervfile._Validator("x.nerv").model_config(header["model"])
    assert message in str(read_error.value)


def test_a_valid_config_round_trips():
    cfg = model_config("nerv-s", 720, 1280)
    assert check_model_config(cfg.to_dict()) == cfg
