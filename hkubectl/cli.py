"""The `hkubectl` command line: global options, error handling and the command groups."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hkubectl import __version__, output, transfer
from hkubectl import algorithm as algorithm_commands
from hkubectl import execution as exec_commands
from hkubectl import pipeline as pipeline_commands
from hkubectl import sync as sync_commands
from hkubectl.client import ApiError, HkubeError
from hkubectl.config import (
    CONFIG_KEYS,
    DEFAULT_ENDPOINT,
    DEFAULT_PATH_PREFIX,
    ENDPOINT_ENV,
    SECRET_KEYS,
    TOKEN_ENV,
    ConfigError,
    load_config,
    resolve_settings,
    write_value,
)
from hkubectl.packing import InputFileError
from hkubectl.state import State, get_state

GLOBAL_FLAGS = frozenset({"--json", "-j", "--verbose"})
GLOBAL_VALUE_OPTIONS = frozenset(
    {"--endpoint", "--pathPrefix", "--rejectUnauthorized", "--username", "--password", "--token"}
)


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move global options found after the subcommand to the front.

    HKube's CLI (yargs) takes `--json` or `--endpoint X` anywhere on the line; click only
    takes them before the subcommand. Everything after `--` is left alone.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        option = arg.split("=", 1)[0]
        if arg in GLOBAL_FLAGS or (option in GLOBAL_VALUE_OPTIONS and "=" in arg):
            front.append(arg)
        elif arg in GLOBAL_VALUE_OPTIONS and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


class HkubeGroup(TyperGroup):
    """Root group: yargs-style option placement, and expected errors printed without a traceback."""

    # typer vendors its own click; its Context type is private, hence `Any` here.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (InputFileError, ConfigError) as exc:
            output.error(str(exc))
            raise typer.Exit(2) from None
        except ApiError as exc:
            output.error(exc.message, exc.code, exc.details)
            raise typer.Exit(1) from None
        except HkubeError as exc:
            output.error(str(exc))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            output.warn("interrupted")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=HkubeGroup,
    name="hkubectl",
    help="HKube command line: apply algorithms, store pipelines, execute and follow jobs.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["--help", "-h"]},
)
app.add_typer(algorithm_commands.app, name="algorithm")
app.add_typer(pipeline_commands.app, name="pipeline")
app.add_typer(exec_commands.app, name="exec")
app.add_typer(sync_commands.app, name="sync")
app.command("export")(transfer.export)
app.command("import")(transfer.import_descriptors)
config_app = typer.Typer(help="Read and write the .hkuberc config file.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _version() -> str:
    try:
        return metadata.version("hkubectl")
    except metadata.PackageNotFoundError:
        return __version__


def _show_version(value: bool) -> None:
    if value:
        output.plain(_version())
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            metavar="URL",
            help=f"HKube address (only scheme, host and port are used). Default: ${ENDPOINT_ENV}, "
            f"then the config file, then {DEFAULT_ENDPOINT}.",
        ),
    ] = None,
    path_prefix: Annotated[
        str | None,
        typer.Option("--pathPrefix", help=f"Path before api/v1/. Default {DEFAULT_PATH_PREFIX}."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", "-j", help="Print JSON instead of pretty output.")
    ] = False,
    reject_unauthorized: Annotated[
        str | None,
        typer.Option(
            "--rejectUnauthorized", metavar="true|false", help="Verify TLS certificates (default true)."
        ),
    ] = None,
    username: Annotated[str | None, typer.Option("--username", help="Keycloak user name.")] = None,
    password: Annotated[str | None, typer.Option("--password", hidden=True)] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help=f"Bearer token (an API token or an OIDC access token). Default: ${TOKEN_ENV}, "
            "then the config file's token.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log every HTTP request to stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    file_values, _ = load_config()
    settings = resolve_settings(
        endpoint=endpoint,
        path_prefix=path_prefix,
        reject_unauthorized=reject_unauthorized,
        username=username,
        password=password,
        token=token,
        json_output=json_output,
        verbose=verbose,
        file_values=file_values,
    )
    ctx.obj = State(settings=settings)


def _masked(values: dict[str, Any]) -> dict[str, Any]:
    return {k: ("********" if k in SECRET_KEYS and v else v) for k, v in values.items()}


@config_app.command("set")
def config_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help=f"One of: {', '.join(CONFIG_KEYS)}.")],
    value: Annotated[str, typer.Argument(help="The value.")],
) -> None:
    """Set one config value (in the .hkuberc in use, or ~/.hkube/.hkuberc)."""
    state = get_state(ctx)
    values, path = write_value(key, value)
    output.plain(f"saved to {path}", stderr=True)
    output.emit(_masked(values), as_json=state.as_json)


@config_app.command("get")
def config_get(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Argument(help="Only this key.")] = None,
) -> None:
    """Print the config file."""
    state = get_state(ctx)
    values, path = load_config()
    if path is None:
        output.plain("no config file found; using the built-in defaults", stderr=True)
    if key is None:
        output.emit(_masked(values), as_json=state.as_json)
        return
    if key not in values:
        raise ConfigError(f"{key} is not set" + (f" in {path}" if path else ""))
    output.emit(_masked(values)[key], as_json=state.as_json)


def main() -> None:
    app(prog_name="hkubectl")
