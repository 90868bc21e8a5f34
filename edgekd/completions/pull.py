"""``completions pull``: page through a stored-completions endpoint into a dataset.

``GET {base}/chat/completions?limit=&after=&metadata[KEY]=VALUE`` lists stored chat
completions (``data``, ``has_more``; the next page starts ``after`` the last id), and
``GET {base}/chat/completions/{id}/messages`` lists each one's input messages, paged the
same way (OpenAI API reference, "Chat Completions: list / list messages"). Single-valued
``--where`` filters are sent to the server; all filters are applied again locally by the
import. The pulled records are kept beside the dataset as ``OUT.pulled.jsonl`` (format (b)
of the import), so the dataset can be rebuilt with other filters without pulling again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.completions import filters
from edgekd.completions import records as rec
from edgekd.completions.client import EndpointClient
from edgekd.completions.dataset import ImportSummary, import_records
from edgekd.completions.teachers import EndpointOptions
from edgekd.errors import UsageError
from edgekd.fileio import atomic_path
from edgekd.progress import NullReporter, Reporter

PAGE = 100


def _pages(client: EndpointClient, call: Any) -> list[dict[str, Any]]:
    """Every item of a cursor-paged list; ``call(after)`` returns a raw-response call."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        body = client.request(call(after))
        data = body.get("data")
        if not isinstance(data, list):
            raise UsageError(f"{client.url}: the list endpoint returned no 'data' list")
        items.extend(d for d in data if isinstance(d, dict))
        if not body.get("has_more") or not data:
            return items
        after = str(data[-1].get("id") or body.get("last_id") or "")
        if not after:
            return items


def pull(
    endpoint: str,
    out: Path,
    *,
    where: list[str] | None = None,
    since: str | None = None,
    model: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    timeout_s: float = 60.0,
    max_retries: int = 5,
    keep_truncated: bool = False,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Pull, write ``OUT.pulled.jsonl``, then import it into ``out``; returns both summaries."""
    reporter = reporter or NullReporter()
    wheres = filters.parse_where(where or [])
    ep = EndpointOptions(
        base_url=endpoint, api_key_env=api_key_env, timeout_s=timeout_s, max_retries=max_retries
    )
    client = EndpointClient(model or "stored", ep)
    server_meta = {w.key: next(iter(w.values)) for w in wheres if len(w.values) == 1}
    chat = client.sdk.chat.completions

    def list_call(after: str | None) -> Any:
        kw: dict[str, Any] = {"limit": PAGE}
        if after:
            kw["after"] = after
        if server_meta:
            kw["metadata"] = server_meta
        if model:
            kw["model"] = model
        return lambda: chat.with_raw_response.list(**kw)

    completions = _pages(client, list_call)
    task = reporter.task("fetching input messages", len(completions))
    pulled = out.with_name(out.name + ".pulled.jsonl")
    with atomic_path(pulled) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for i, c in enumerate(completions, 1):
            cid = str(c.get("id") or "")

            def msg_call(after: str | None, cid: str = cid) -> Any:
                kw: dict[str, Any] = {"limit": PAGE}
                if after:
                    kw["after"] = after
                return lambda: chat.messages.with_raw_response.list(cid, **kw)

            msgs = _pages(client, msg_call)
            c["messages"] = [{"role": m.get("role"), "content": m.get("content")} for m in msgs]
            f.write(rec.dumps(c))
            task.update(i)
    task.close()
    summary: ImportSummary = import_records(
        [pulled], out, where=where, since=since, keep_truncated=keep_truncated
    )
    return {"pulled": len(completions), "pulled_file": str(pulled), **summary.as_dict()}
