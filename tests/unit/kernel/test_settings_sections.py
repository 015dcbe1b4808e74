"""A service's own settings (a Section): read at start-up with the kernel's readers, kept in
Settings.sections, and taken by the service with `Section.of`."""

from __future__ import annotations

import pytest

from billing.settings import BILLING, STRIPE, BillingSettings, StripeSettings
from chargepark.config import Settings
from chargepark.errors import ConfigError
from chargepark.platform.config import KNOWN_ENV_VARS, SECTIONS, load_settings
from csms.settings import CSMS, CsmsSettings
from ops.settings import OPS, OpsSettings


def test_every_section_reads_its_own_variables(tmp_path):
    settings = load_settings(
        {
            "CHARGEPARK_DATA_DIR": str(tmp_path),
            "CHARGEPARK_BILLING_SETTLE_SEC": "0",
            "CHARGEPARK_STRIPE_API_KEY": "sk_test_x",
            "CHARGEPARK_STRIPE_API_BASE": "http://127.0.0.1:8420",
            "CHARGEPARK_OPS_ALERT_INTERVAL": "0.5",
            "CHARGEPARK_OCPP_UNKNOWN": "Pending",
            "CHARGEPARK_CSMS_NODE_TIMEOUT": "7",
        }
    )
    assert BILLING.of(settings) == BillingSettings(settle_sec=0)
    assert STRIPE.of(settings) == StripeSettings(
        api_key="sk_test_x", api_base="http://127.0.0.1:8420"
    )
    assert OPS.of(settings) == OpsSettings(alert_interval_sec=0.5)
    assert CSMS.of(settings) == CsmsSettings(ocpp_unknown="pending", node_timeout_sec=7)


def test_settings_made_without_a_section_give_its_defaults():
    assert BILLING.of(Settings()) == BillingSettings()
    given = Settings().with_section(OPS, OpsSettings(webhook_max_attempts=2))
    assert OPS.of(given).webhook_max_attempts == 2 and CSMS.of(given) == CsmsSettings()


def test_the_sections_variables_are_known_and_the_kernel_names_none_of_them():
    from chargepark.config import known_env_vars

    section_vars = {var for section in SECTIONS for var in section.env}
    assert section_vars <= KNOWN_ENV_VARS
    assert not section_vars & known_env_vars(())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "0.01",
            "CHARGEPARK_OPS_ALERT_INTERVAL: '0.01' is not a number of seconds from 0.1 to 86400",
        ),
        (
            "soon",
            "CHARGEPARK_OPS_ALERT_INTERVAL: 'soon' is not a number of seconds from 0.1 to 86400",
        ),
        (
            "nan",
            "CHARGEPARK_OPS_ALERT_INTERVAL: 'nan' is not a number of seconds from 0.1 to 86400",
        ),
    ],
)
def test_a_bad_value_of_a_section_stops_start_up_naming_it(tmp_path, value, message):
    env = {"CHARGEPARK_DATA_DIR": str(tmp_path), "CHARGEPARK_OPS_ALERT_INTERVAL": value}
    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    assert str(refused.value) == message
