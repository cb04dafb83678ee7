"""`relay send --source S FILE [--url URL]`: post FILE to the relay, signed as source S's sender
signs it (relay/senders.py), with this machine's configured secret; print the answer.

    relay send --source hubspot events.json                      # to http://127.0.0.1:8000
    relay send --source generic event.json --url https://relay.example.com
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click

from relay.cli.common import CrmName, load_settings
from relay.cli.errors import UNREACHABLE, Failed
from relay.senders import SIGNERS, signer

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 30.0


class SenderName(CrmName):
    """A source `relay send` can sign as: a built-in one, or one declared by a file."""

    built_in = tuple(SIGNERS)

    def names(self) -> tuple[str, ...]:
        return (*SIGNERS, *(n for n in super().names() if n not in SIGNERS))


def base_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An http(s) address with a host; anything else is a usage error naming --url."""
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{value!r} is not an http(s) address, e.g. {DEFAULT_URL}")
    return value


@click.command("send")
@click.option("--source", required=True, type=SenderName(), help="Sign as this source's sender.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url", default=DEFAULT_URL, show_default=True, callback=base_url, help="The relay's base address."
)
def send(source: str, file: Path, url: str) -> None:
    """Post FILE to the relay as source S would send it, signed with this machine's secret."""
    settings = load_settings()
    signed = signer(settings, source)(settings, url, file.read_bytes())
    for note in signed.notes:
        click.echo(f"note: {note}", err=True)
    request = urllib.request.Request(signed.url, data=signed.body, headers=signed.headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            status, reason, answer = response.status, response.reason, response.read()
    except urllib.error.HTTPError as exc:
        status, reason, answer = exc.code, exc.reason, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        raise Failed(
            f"cannot reach the relay at {url}: {why}; is `relay serve` running there? (--url)", UNREACHABLE
        ) from None
    click.echo(f"{status} {reason}")
    click.echo(answer.decode(errors="replace").rstrip())
    if not 200 <= status < 300:
        sys.exit(1)
