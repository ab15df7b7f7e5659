from datetime import UTC, datetime, timedelta

import pytest

from include.roboflow_batch.references.expiry import ExpiryError, effective_expiry, parse_expiry

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(timedelta(hours=6), 6 * 3600), (3600, 3600), (7200.0, 7200), ("86400", 86400), (" 600 ", 600)],
)
def test_expiry_accepts_timedeltas_and_seconds(value: object, expected: int) -> None:
    assert parse_expiry(value).total_seconds() == expected


def test_seven_days_is_allowed_and_more_is_refused() -> None:
    assert parse_expiry(timedelta(days=7)) == timedelta(days=7)
    with pytest.raises(ExpiryError, match="7-day maximum"):
        parse_expiry(timedelta(days=7, seconds=1))


@pytest.mark.parametrize("value", [0, 30, -5, "1d", True, None, [3600]])
def test_unusable_expiry_names_the_field(value: object) -> None:
    with pytest.raises(ExpiryError, match="expiry"):
        parse_expiry(value)


def test_long_lived_credentials_keep_the_requested_expiry() -> None:
    expiry = effective_expiry(timedelta(hours=24), None, shorten_to_credentials=False, now=NOW)
    assert expiry.seconds == 86400
    assert expiry.expires_at == NOW + timedelta(hours=24)
    assert not expiry.limited_by_credentials


def test_credentials_outliving_the_expiry_change_nothing() -> None:
    expiry = effective_expiry(
        timedelta(hours=1), NOW + timedelta(hours=2), shorten_to_credentials=False, now=NOW
    )
    assert expiry.seconds == 3600


def test_credentials_expiring_first_are_an_error_by_default() -> None:
    with pytest.raises(ExpiryError, match="stop working early"):
        effective_expiry(timedelta(hours=24), NOW + timedelta(hours=1), shorten_to_credentials=False, now=NOW)


def test_credentials_expiring_first_shorten_the_expiry_when_allowed() -> None:
    expiry = effective_expiry(
        timedelta(hours=24), NOW + timedelta(hours=1), shorten_to_credentials=True, now=NOW
    )
    assert expiry.seconds == 3600
    assert expiry.requested_seconds == 86400
    assert expiry.limited_by_credentials
    assert expiry.expires_at == NOW + timedelta(hours=1)


def test_credentials_about_to_expire_cannot_sign_even_when_shortening() -> None:
    with pytest.raises(ExpiryError, match="less than"):
        effective_expiry(
            timedelta(hours=1), NOW + timedelta(seconds=20), shorten_to_credentials=True, now=NOW
        )
