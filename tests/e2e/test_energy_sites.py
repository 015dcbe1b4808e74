"""Sites over real HTTP: create, read, change the external limit and other load, and every bad
body answered with problem+json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SITE = "/sites/LOT-9"


async def test_sites_are_created_read_limited_and_listed(http, csms):
    body = {
        "phases": 3,
        "voltage": 230,
        "limit_amps": 100,
        "margin_amps": 5,
        "chargers": ["CP-1", "CP-2"],
        "schedule": [
            {"start": "22:00", "end": "06:00", "limit_kw": 110.4},
            {"start": "17:00", "end": "19:00", "limit_amps": [90, 80, 90], "weekdays": [1, 5]},
        ],
        "timezone": "Europe/Berlin",
    }
    async with http.put(csms.url(SITE), json=body, headers=csms.headers) as r:
        assert r.status == 201, await r.text()
        site = await r.json()
    assert site["limit_amps"] == [100, 100, 100] and site["chargers_assigned"] == ["CP-1", "CP-2"]
    assert site["timezone"] == "Europe/Berlin"
    assert site["schedule"] == [
        {"start": "22:00", "end": "06:00", "limit_kw": 110.4, "weekdays": [1, 2, 3, 4, 5, 6, 7]},
        {"start": "17:00", "end": "19:00", "limit_amps": [90, 80, 90], "weekdays": [1, 5]},
    ]
    assert [c["charger_id"] for c in site["chargers"]] == ["CP-1", "CP-2"]
    assert site["chargers"][0]["controlled"] is False  # not connected: counted at its rating
    async with http.put(csms.url(SITE), json=body, headers=csms.headers) as r:
        assert r.status == 200

    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    async with http.put(
        csms.url(f"{SITE}/external-limit"),
        json={"limit_amps": [40, 50, 60], "until": until},
        headers=csms.headers,
    ) as r:
        assert r.status == 200, await r.text()
        site = await r.json()
    assert site["external_limit"]["limit_amps"] == [40, 50, 60]
    # Whatever entry is in force now (at least 80 A per phase), the external limit is lower.
    assert site["limit_in_force_amps"] == [40, 50, 60]

    at = datetime.now(UTC).isoformat()
    async with http.put(
        csms.url(f"{SITE}/other-load"), json={"amps": [10, 10, 10], "at": at}, headers=csms.headers
    ) as r:
        assert r.status == 200, await r.text()
        site = await r.json()
    assert site["other_load_amps"] == [10, 10, 10]
    assert site["available_amps"] == [25, 35, 45]  # 40/50/60 - 10 - 5

    async with http.get(csms.url("/sites"), headers=csms.headers) as r:
        assert r.status == 200
        assert [s["site_id"] for s in (await r.json())["items"]] == ["LOT-9"]
    other = {"phases": 1, "voltage": 230, "limit_kw": 7.4, "chargers": ["CP-2"]}
    async with http.put(csms.url("/sites/LOT-10"), json=other, headers=csms.headers) as r:
        assert r.status == 409 and "CP-2" in (await r.json())["detail"]
    async with http.get(csms.url("/sites/NOPE"), headers=csms.headers) as r:
        assert r.status == 404 and r.content_type == "application/problem+json"


async def test_every_bad_body_is_a_problem(http, csms):
    bad = [
        (SITE, {"phases": 3, "voltage": 230}),  # no limit
        (SITE, {"phases": 2, "voltage": 230, "limit_amps": 10}),
        (SITE, {"phases": 3, "voltage": 230, "limit_amps": 10, "limit_kw": 5}),
        (SITE, {"phases": 3, "voltage": 230, "limit_amps": [1, 2]}),
        (SITE, {"phases": 3, "voltage": 230, "limit_amps": -1}),
        (SITE, {"phases": 3, "voltage": 230, "limit_amps": 10, "extra": 1}),
        (
            SITE,
            {
                "phases": 3,
                "voltage": 230,
                "limit_amps": 10,
                "chargers": ["M"],
                "meter_charger": "M",
            },
        ),
    ]
    for path, body in bad:
        async with http.put(csms.url(path), json=body, headers=csms.headers) as r:
            assert r.status == 422, (body, await r.text())
            assert r.content_type == "application/problem+json"
    # The schedule and time zone are judged by the site's connection, which names the fault.
    base = {"phases": 3, "voltage": 230, "limit_amps": 10}
    night = {"start": "22:00", "end": "06:00", "limit_amps": 20}
    for extra, detail in [
        ({"schedule": [{**night, "start": "25:00"}]}, "schedule[0].start '25:00' is not a time"),
        ({"schedule": [{**night, "end": "6:00"}]}, 'schedule[0].end must be "HH:MM"'),
        ({"schedule": [{**night, "end": "22:00"}]}, "starts and ends at the same time"),
        (
            {"schedule": [night, {**night, "start": "05:00", "end": "07:00", "weekdays": [3]}]},
            "schedule[0] and schedule[1] overlap on Wed",
        ),
        ({"schedule": [{**night, "limit_amps": [1, 2]}]}, "one value or one per phase (3)"),
        ({"schedule": [{**night, "weekdays": [8]}]}, "weekdays"),
        ({"schedule": [{"start": "22:00", "end": "06:00"}]}, "limit"),
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not a known time zone"),
    ]:
        async with http.put(csms.url(SITE), json={**base, **extra}, headers=csms.headers) as r:
            assert r.status == 422, (extra, await r.text())
            assert r.content_type == "application/problem+json"
            assert detail in (await r.json())["detail"], (extra, await r.text())
    ok = {"phases": 3, "voltage": 230, "limit_kw": 50}
    async with http.put(csms.url(SITE), json=ok, headers=csms.headers) as r:
        assert r.status == 201
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    for path, body in [
        (f"{SITE}/external-limit", {"limit_amps": 10, "until": past}),
        (f"{SITE}/external-limit", {"limit_amps": 10, "until": "tomorrow"}),
        (f"{SITE}/external-limit", {"until": future}),
        (f"{SITE}/external-limit", {"limit_amps": [1, 2], "until": future}),
        (f"{SITE}/other-load", {"amps": 3, "at": future}),
        (f"{SITE}/other-load", {"amps": 3}),
        (f"{SITE}/other-load", {"amps": [1, 2], "at": past}),  # three phases, two values
    ]:
        async with http.put(csms.url(path), json=body, headers=csms.headers) as r:
            assert r.status == 422, (path, body, await r.text())
            assert r.content_type == "application/problem+json"
    async with http.put(
        csms.url("/sites/NOPE/other-load"), json={"kw": 3, "at": past}, headers=csms.headers
    ) as r:
        assert r.status == 404
