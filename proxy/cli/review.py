"""Human review: ``review`` (the web app where people label pairs) and ``review-token``
(reviewers' tokens: ``add NAME``, ``list``, ``remove NAME``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
import uvloop

from proxy.cli.app import CampaignOption, ConfigOption, app, load, needs_analysis, read_campaign
from proxy.logs import configure_logging
from proxy.terminal import err, fail

if TYPE_CHECKING:
    from proxy.config.root import Config
    from proxy.recording.connect import RedisClient

T = TypeVar("T")


@app.command(short_help="The review app: people label pairs in a browser.")
def review(
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep it local, or put TLS in front.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8088,
) -> None:
    """Serve the review app for a campaign until Ctrl-C (or SIGTERM): reviewers log in with a
    token from `darklaunch review-token add NAME`, read pairs side by side from the worst,
    audit and reported queues, and label them (docs/review.md). A campaign with no pairs
    exits 4."""
    needs_analysis("review")
    from comparators.review.app import run_review

    cfg = load(config)
    name = campaign or cfg.recording.campaign
    configure_logging("WARNING")

    def ready(url: str) -> None:
        err.print(f"review app on {url} (campaign {name}); Ctrl-C stops it")

    read_campaign(run_review(cfg, name, host, port, on_ready=ready))


review_token_app = typer.Typer(
    no_args_is_help=True, help="Reviewers' tokens for the review app: add, list, remove."
)
app.add_typer(review_token_app, name="review-token")


def _with_redis(cfg: Config, work: Callable[[RedisClient], Awaitable[T]]) -> T:
    async def run() -> T:
        from proxy.recording.setup import open_client

        async with open_client(cfg.recording) as client:
            return await work(client)

    return uvloop.run(run())


@review_token_app.command("add")
def token_add(
    name: Annotated[str, typer.Argument(help="The reviewer's name, as labels will carry it.")],
    config: ConfigOption = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Give an existing reviewer a new token.")
    ] = False,
) -> None:
    """Make a token for NAME and print it, once: only its SHA-256 is stored."""
    needs_analysis("review-token")
    from comparators.review.tokens import (
        InvalidReviewerName,
        ReviewerExists,
        add_reviewer,
    )

    cfg = load(config)
    try:
        token = _with_redis(cfg, lambda client: add_reviewer(client, name, replace=replace))
    except (InvalidReviewerName, ReviewerExists) as exc:
        fail(str(exc))
    typer.echo(token)
    err.print(f"token for {name}: shown once, give it to them now (it cannot be shown again)")


@review_token_app.command("list")
def token_list(config: ConfigOption = None) -> None:
    """The reviewers who have a token (never the tokens)."""
    needs_analysis("review-token")
    from comparators.review.tokens import list_reviewers

    for name in _with_redis(load(config), list_reviewers):
        typer.echo(name)


@review_token_app.command("remove")
def token_remove(
    name: Annotated[str, typer.Argument(help="The reviewer whose token to delete.")],
    config: ConfigOption = None,
) -> None:
    """Delete NAME's token; their open sessions end at their next click."""
    needs_analysis("review-token")
    from comparators.review.tokens import remove_reviewer

    if not _with_redis(load(config), lambda client: remove_reviewer(client, name)):
        fail(f"no reviewer {name!r}")
    err.print(f"removed {name}")
