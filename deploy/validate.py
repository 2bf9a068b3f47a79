#!/usr/bin/env python3
"""Static checks of Dockerfile, .dockerignore and compose.yaml, without a container engine.

Run it with `bash deploy/validate.sh` (which installs the pinned tools into a virtualenv) or,
with the packages below installed, `python3 deploy/validate.py`. It does NOT build or run
anything: see docs/deploy.md for what that does and does not prove.

Checks:
  Dockerfile  - parsed by BuildKit's own parser (PyPI `dockerfile`, the Go parser);
              - every COPY source (outside --from) exists and is not excluded by .dockerignore;
              - stages, USER non-root, EXPOSE 3000, HEALTHCHECK exec form, AGENTHUB_DATA_DIR
                is the declared VOLUME, ENTRYPOINT exec form.
  compose     - the file as written against the Compose Specification JSON schema
                (check-jsonschema's vendored `compose-spec`), done by validate.sh;
              - variables interpolated as `docker compose` does (${X}, ${X:-d}, ${X:?e}, $$),
                `${X:?}` must fail without X, YAML merge keys resolved, then parsed and
                validated by the `compose_spec` crate (PyPI `compose-spec`);
              - health checks on agenthub, postgres and redis; depends_on service_healthy;
                named volumes declared; JWT_SECRET required; profiles `tracing` and `scale`.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


# --------------------------------------------------------------------------- Dockerfile


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        patterns.append((negate, pattern.strip("/")))
    return patterns


def ignored(rel: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also excludes what is under it."""
    result = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for negate, pattern in patterns:
        if pattern.startswith("**/"):
            tail = pattern[3:]
            hit = any(fnmatch.fnmatch("/".join(parts[i : j + 1]), tail)
                      for i in range(len(parts)) for j in range(i, len(parts)))
        else:
            hit = any(fnmatch.fnmatch(p, pattern) for p in prefixes)
        if hit:
            result = not negate
    return result


def check_dockerfile() -> None:
    import dockerfile  # BuildKit's parser

    commands = dockerfile.parse_file(str(ROOT / "Dockerfile"))
    check(True, f"Dockerfile parses with BuildKit's parser ({len(commands)} instructions)")
    patterns = dockerignore_patterns()
    stages: list[list] = []
    for c in commands:
        if c.cmd == "FROM":
            stages.append([c])
        elif stages:
            stages[-1].append(c)
    check(len(stages) >= 2, f"multi-stage ({len(stages)} stages)")
    for c in commands:
        if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags):
            for src in c.value[:-1]:
                path = ROOT / src
                check(path.exists(), f"COPY source {src} exists")
                check(not ignored(src.rstrip("/"), patterns),
                      f"COPY source {src} is in the build context (.dockerignore)")
    for must_be_ignored in ["target", "data", ".git", ".env", "clients/node/node_modules"]:
        check(ignored(must_be_ignored, patterns), f".dockerignore excludes {must_be_ignored}")

    final = stages[-1]
    by_cmd = lambda name: [c for c in final if c.cmd == name]  # noqa: E731
    users = by_cmd("USER")
    check(bool(users) and users[-1].value[0].split(":")[0] not in ("0", "root"),
          f"final stage runs as non-root ({users[-1].value[0] if users else 'no USER'})")
    check(any("3000" in v for c in by_cmd("EXPOSE") for v in c.value), "EXPOSE 3000")
    hc = by_cmd("HEALTHCHECK")
    check(bool(hc) and hc[-1].json and "/healthz" in " ".join(hc[-1].value),
          "HEALTHCHECK in exec form (no shell in distroless) probing /healthz")
    hc_bin = hc[-1].value[1] if hc else ""
    copied = " ".join(" ".join(c.value) for c in commands)
    check(Path(hc_bin).name in copied, f"the HEALTHCHECK binary {hc_bin} is built and copied")
    env = {}
    for c in by_cmd("ENV"):
        vals = list(c.value)
        for i in range(0, len(vals) - 1, 2):
            env[vals[i]] = vals[i + 1]
    data_dir = env.get("AGENTHUB_DATA_DIR")
    volumes = [v for c in by_cmd("VOLUME") for v in c.value]
    check(data_dir is not None and data_dir in volumes,
          f"AGENTHUB_DATA_DIR={data_dir} is a VOLUME {volumes}")
    check(any(f.startswith("--chown=65532") and data_dir in c.value[-1]
              for c in by_cmd("COPY") for f in c.flags),
          "the data directory is owned by the runtime user")
    ep = by_cmd("ENTRYPOINT")
    check(bool(ep) and ep[-1].json, "ENTRYPOINT in exec form (the server is PID 1 and gets SIGTERM)")


# --------------------------------------------------------------------------- compose

VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg
        elif op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise MissingVariable(f"{name}: {arg}")
        return value or ""

    return "\n".join(VAR.sub(sub, line) if not line.lstrip().startswith("#") else line
                     for line in text.splitlines())


def check_compose() -> None:
    import compose_spec

    raw = (ROOT / "compose.yaml").read_text()
    env = {"JWT_SECRET": "x" * 64, "POSTGRES_PASSWORD": "0123abcd"}
    for missing in ["JWT_SECRET", "POSTGRES_PASSWORD"]:
        try:
            interpolate(raw, {k: v for k, v in env.items() if k != missing})
            check(False, f"compose refuses to start without {missing}")
        except MissingVariable:
            check(True, f"compose refuses to start without {missing}")
    text = interpolate(raw, env)
    doc = yaml.safe_load(text)  # resolves the `<<` merge keys like compose does
    doc = {k: v for k, v in doc.items() if not k.startswith("x-")}
    for svc in doc["services"].values():
        for k in [k for k in svc if k.startswith("x-")]:
            del svc[k]
    compose = compose_spec.PyCompose.from_yaml(yaml.safe_dump(doc, sort_keys=False))
    compose.validate()
    check(True, "interpolated compose file parses and validates with the compose_spec crate "
          f"(services: {', '.join(compose.service_names())})")

    services = doc["services"]
    for name in ["agenthub", "agenthub-2", "postgres", "redis"]:
        check("healthcheck" in services.get(name, {}), f"{name} has a health check")
    for name in ["agenthub", "agenthub-2"]:
        deps = services[name].get("depends_on", {})
        check(all(d.get("condition") == "service_healthy" for d in deps.values())
              and {"postgres", "redis"} <= set(deps),
              f"{name} depends on postgres and redis being healthy")
        e = services[name]["environment"]
        check(e["AGENTHUB_ENV"] == "production", f"{name}: AGENTHUB_ENV=production")
        check(e["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in e["DATABASE_URL"],
              f"{name}: DATABASE_URL points at the postgres service")
        check(e["REDIS_URL"] == "redis://redis:6379", f"{name}: REDIS_URL points at redis")
        check(int(services[name]["stop_grace_period"].rstrip("s")) > int(e["SHUTDOWN_TIMEOUT_SECONDS"]),
              f"{name}: stop_grace_period exceeds SHUTDOWN_TIMEOUT_SECONDS")
    check(services["agenthub"]["environment"]["NODE_ID"] != services["agenthub-2"]["environment"]["NODE_ID"],
          "the two replicas have distinct NODE_IDs")
    check(services["agenthub"]["ports"] != services["agenthub-2"]["ports"],
          "the two replicas publish different host ports")
    check(services["agenthub-2"].get("profiles") == ["scale"], "agenthub-2 is in the `scale` profile")
    check(services["jaeger"].get("profiles") == ["tracing"], "jaeger is in the `tracing` profile")
    check("--appendonly" in services["redis"]["command"], "redis runs with --appendonly")
    declared = set(doc.get("volumes", {}))
    used = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    check(used <= declared, f"every volume used is a declared named volume ({sorted(used)})")
    check(services["postgres"]["image"].startswith("postgres:16"), "postgres:16")
    check(services["redis"]["image"].startswith("redis:7"), "redis:7")


if __name__ == "__main__":
    os.chdir(ROOT)
    check_dockerfile()
    check_compose()
    print(f"\n{'FAILED: ' + str(len(failures)) if failures else 'all static checks passed'}")
    sys.exit(1 if failures else 0)
