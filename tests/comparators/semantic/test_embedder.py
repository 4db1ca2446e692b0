"""Embedders: the packaged model loads offline, vectors are unit rows, the cache is bounded, and
an endpoint's failures are one exception type the comparator can turn into "unscored"."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from pydantic import ValidationError

from comparators.semantic.embedder import (
    CachedEmbedder,
    Embedder,
    EmbedderUnavailableError,
    EmbeddingEndpointError,
    EmbeddingError,
    EmbeddingsEndpoint,
    EndpointEmbedder,
    WordLlamaEmbedder,
    expand_env,
    load_embedder,
)
from tests.conftest import serve_handler

ROOT = Path(__file__).resolve().parents[3]

# Run in a fresh interpreter: HOME and the caches point at an empty folder, and an audit hook
# fails any connection or DNS lookup, so a download attempt could not go unnoticed.
OFFLINE_PRELUDE = textwrap.dedent(
    """
    import sys

    def no_network(event, args):
        if event in ("socket.connect", "socket.getaddrinfo"):
            raise RuntimeError(f"network use: {event} {args!r}")

    sys.addaudithook(no_network)
    """
)


def _offline(
    code: str, home: Path, pythonpath: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XDG_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [*(pythonpath or []), ROOT])
    return subprocess.run(
        [sys.executable, "-c", OFFLINE_PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=home,
    )


def test_the_offline_guard_catches_a_connection_attempt(tmp_path: Path) -> None:
    done = _offline(
        "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)", tmp_path
    )
    assert done.returncode != 0
    assert "RuntimeError: network use: socket." in done.stderr


def test_the_packaged_model_loads_offline_with_an_empty_home(tmp_path: Path) -> None:
    done = _offline(
        """
        import logging
        import numpy as np
        from comparators.semantic.embedder import WordLlamaEmbedder

        vectors = WordLlamaEmbedder().embed(["The cat sat on the mat.", ""])
        assert vectors.shape == (2, 256) and vectors.dtype == np.float32, vectors.shape
        # wordllama calls logging.basicConfig(level=INFO) on import; that is undone.
        root = logging.getLogger()
        assert root.handlers == [] and root.level == logging.WARNING, (root.handlers, root.level)
        print("ok")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert list(tmp_path.iterdir()) == [], "nothing may be downloaded or cached under HOME"


@pytest.mark.parametrize("missing", ["tokenizers", "weights"])
def test_a_missing_model_file_is_an_error_not_a_download(tmp_path: Path, missing: str) -> None:
    """A wordllama package without one of its folders: our error, naming the file, and no
    connection attempted (the audit hook would fail the process first)."""
    import wordllama  # type: ignore[import-untyped]

    installed = Path(wordllama.__file__).parent
    copy = tmp_path / "site" / "wordllama"
    copy.mkdir(parents=True)
    for child in installed.iterdir():
        if child.name != missing:
            (copy / child.name).symlink_to(child)
    done = _offline(
        """
        from comparators.semantic.embedder import EmbedderUnavailableError, WordLlamaEmbedder

        try:
            WordLlamaEmbedder()
        except EmbedderUnavailableError as exc:
            print(exc)
        """,
        tmp_path,
        pythonpath=[tmp_path / "site"],
    )
    assert done.returncode == 0, done.stderr
    assert f"{copy}/{missing}/" in done.stdout
    assert "not found" in done.stdout
    assert "downloads are disabled" in done.stdout


def test_without_wordllama_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wordllama", None)  # makes `import wordllama` fail
    with pytest.raises(EmbedderUnavailableError, match=r"pip install 'darklaunch\[analysis\]'"):
        WordLlamaEmbedder()


def test_vectors_are_unit_rows_and_the_empty_text_is_zero() -> None:
    embedder = load_embedder()
    assert isinstance(embedder, Embedder)
    assert embedder.name == "wordllama l2_supercat 256"
    vectors = embedder.embed(["Paris is the capital of France.", "", "bad \ud800 surrogate"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 256)
    norms = np.linalg.norm(vectors, axis=1)
    assert norms[0] == pytest.approx(1.0, abs=1e-5)
    assert norms[1] == 0.0
    assert norms[2] == pytest.approx(1.0, abs=1e-5)
    assert embedder.embed([]).shape == (0, 256)


def test_a_paraphrase_is_nearer_than_an_unrelated_answer() -> None:
    a, paraphrase, unrelated = load_embedder().embed(
        [
            "Restart the server after you change the configuration file.",
            "After changing the config file, restart the server.",
            "Bananas are rich in potassium and easy to digest.",
        ]
    )
    assert float(a @ paraphrase) > 0.7  # measured 0.77
    assert float(a @ paraphrase) > float(a @ unrelated) + 0.5


def test_the_cache_returns_the_same_vectors_and_stays_bounded() -> None:
    cache = CachedEmbedder(WordLlamaEmbedder(), maxsize=3)
    first = cache.embed(["one", "two", "three", "two"])
    info = cache.info()
    assert (info.hits, info.misses, info.size) == (0, 4, 3)
    again = cache.embed(["two", "one"])
    assert np.array_equal(again, first[[1, 0]])
    assert cache.info().hits == 2
    cache.embed(["four"])  # evicts the least recently used: "three"
    assert cache.info().size == 3
    cache.embed(["one", "two", "four"])
    assert cache.info().hits == 5
    cache.embed(["three"])
    assert cache.info().misses == 6
    mine = cache.embed(["one"])
    mine[0, 0] = 5.0  # the caller's copy: the cached vector does not change
    assert cache.embed(["one"])[0, 0] == first[0, 0]
    with pytest.raises(ValueError, match="maxsize: 0; expected a positive number"):
        CachedEmbedder(WordLlamaEmbedder(), maxsize=0)


def test_load_embedder_shares_one_instance_across_threads() -> None:
    endpoint = EmbeddingsEndpoint(url="http://127.0.0.1:9/v1", model="shared-test")
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda _: load_embedder(endpoint), range(16)))
    assert all(e is found[0] for e in found)
    assert load_embedder() is load_embedder(None)
    assert load_embedder(endpoint) is not load_embedder()


# --- ${ENV} in headers ------------------------------------------------------------------------


def test_headers_expand_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DL_TEST_EMBED_KEY", "sk-secret")
    endpoint = EmbeddingsEndpoint(
        url="http://127.0.0.1:1/v1/",
        model="m",
        headers={"Authorization": "Bearer ${DL_TEST_EMBED_KEY}", "X-Team": "${DL_UNSET:-core}"},
    )
    assert endpoint.headers == {"Authorization": "Bearer sk-secret", "X-Team": "core"}
    assert endpoint.url == "http://127.0.0.1:1/v1"
    assert "sk-secret" not in repr(endpoint)


def test_an_unset_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DL_TEST_MISSING", raising=False)
    with pytest.raises(ValidationError) as caught:
        EmbeddingsEndpoint(
            url="http://x/v1", model="m", headers={"Authorization": "${DL_TEST_MISSING}"}
        )
    message = str(caught.value)
    assert "headers.Authorization: environment variable ${DL_TEST_MISSING} is not set" in message
    with pytest.raises(ValueError, match=r"key: environment variable \$\{A\} is not set"):
        expand_env("${A}", "key", env={})


@pytest.mark.parametrize(
    ("field", "value"),
    [("url", "127.0.0.1:8080"), ("model", ""), ("timeout_s", 0), ("batch_size", 0)],
)
def test_bad_endpoint_options_are_rejected(field: str, value: Any) -> None:
    options: dict[str, Any] = {"url": "http://127.0.0.1/v1", "model": "m", field: value}
    with pytest.raises(ValidationError, match=field):
        EmbeddingsEndpoint(**options)


# --- a real /v1/embeddings server on 127.0.0.1 --------------------------------------------------


def _vector_for(text: str) -> list[float]:
    return [float(len(text)), 1.0, 0.0, 2.0]


@asynccontextmanager
async def embeddings_server(
    seen: list[dict[str, Any]], mode: str = "ok", dims: int | list[int] = 4
) -> AsyncIterator[str]:
    """``/v1/embeddings`` as OpenAI answers it (base64 when asked, else float lists), out of
    order; ``dims`` may give one size per request, to play a model swapped behind the URL."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append({"path": request.path, "headers": dict(request.headers), "body": body})
        size = dims if isinstance(dims, int) else dims[len(seen) - 1]
        if mode == "500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if mode == "slow":
            await asyncio.sleep(5)
        data = []
        for index, text in enumerate(body["input"]):
            vector = _vector_for(text)[:size] + [0.0] * max(0, size - 4)
            embedding: Any = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        if mode == "short":
            data = data[:-1]
        data.reverse()  # answered out of order: the index decides
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return web.json_response({"object": "list", "data": data, "model": "m", "usage": usage})

    async with serve_handler(handler) as url:
        yield url + "/v1"


async def test_endpoint_embeds_in_batches_with_expanded_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DL_TEST_EMBED_KEY", "sk-local")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    seen: list[dict[str, Any]] = []
    async with embeddings_server(seen) as url:
        endpoint = EmbeddingsEndpoint(
            url=url,
            model="bge-small",
            batch_size=2,
            headers={"Authorization": "Bearer ${DL_TEST_EMBED_KEY}"},
        )
        embedder = EndpointEmbedder(endpoint)
        try:
            texts = ["a", "bbb", "", "cc", "dddd"]
            vectors = await asyncio.to_thread(embedder.embed, texts)
        finally:
            embedder.close()
    assert embedder.name == f"endpoint bge-small at {url}"
    assert [s["body"]["input"] for s in seen] == [["a", "bbb"], ["cc", "dddd"]]
    assert {s["path"] for s in seen} == {"/v1/embeddings"}
    assert {s["body"]["encoding_format"] for s in seen} == {"base64"}
    assert {s["headers"]["Authorization"] for s in seen} == {"Bearer sk-local"}
    assert vectors.shape == (5, 4)
    for row, text in zip(vectors, texts, strict=True):
        if text:
            expected = np.asarray(_vector_for(text)) / np.linalg.norm(_vector_for(text))
            assert row == pytest.approx(expected, abs=1e-6)
        else:
            assert not row.any()


async def test_only_empty_texts_still_learn_the_dimension() -> None:
    seen: list[dict[str, Any]] = []
    async with embeddings_server(seen, dims=6) as url:
        embedder = EndpointEmbedder(EmbeddingsEndpoint(url=url, model="m"))
        try:
            vectors = await asyncio.to_thread(embedder.embed, ["", ""])
        finally:
            embedder.close()
    assert vectors.shape == (2, 6)
    assert not vectors.any()
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("mode", "options", "message"),
    [
        ("500", {"max_retries": 1}, "answered HTTP 500"),
        ("slow", {"timeout_s": 0.3, "max_retries": 0}, "no answer within timeout_s=0.3"),
        ("short", {"max_retries": 0}, "answered indexes [0] for 2 inputs"),
    ],
)
async def test_endpoint_failures_raise_one_exception_type(
    mode: str, options: dict[str, Any], message: str
) -> None:
    seen: list[dict[str, Any]] = []
    async with embeddings_server(seen, mode=mode) as url:
        embedder = EndpointEmbedder(EmbeddingsEndpoint(url=url, model="m", **options))
        try:
            with pytest.raises(EmbeddingEndpointError, match=re.escape(message)) as caught:
                await asyncio.to_thread(embedder.embed, ["one", "two"])
        finally:
            embedder.close()
    assert isinstance(caught.value, EmbeddingError)
    assert f"embeddings endpoint {url} (model 'm')" in str(caught.value)
    assert len(seen) == 1 + options.get("max_retries", 0)


async def test_vectors_of_a_changed_size_are_an_error() -> None:
    seen: list[dict[str, Any]] = []
    async with embeddings_server(seen, dims=[4, 3]) as url:
        embedder = EndpointEmbedder(EmbeddingsEndpoint(url=url, model="m"))
        try:
            assert (await asyncio.to_thread(embedder.embed, ["x"])).shape == (1, 4)
            with pytest.raises(EmbeddingEndpointError, match=r"vectors of \[3\] dimensions.*\(4\)"):
                await asyncio.to_thread(embedder.embed, ["y"])
        finally:
            embedder.close()


def test_a_closed_port_is_an_endpoint_error() -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    embedder = EndpointEmbedder(EmbeddingsEndpoint(url=url, model="m", max_retries=0))
    try:
        with pytest.raises(EmbeddingEndpointError, match="APIConnectionError"):
            embedder.embed(["hello"])
    finally:
        embedder.close()


def test_threads_embedding_at_once_get_their_own_rows() -> None:
    embedder = load_embedder()
    texts = [f"answer number {i} about topic {i % 7}" for i in range(64)]
    expected = WordLlamaEmbedder().embed(texts)
    barrier = threading.Barrier(8)

    def run(offset: int) -> bool:
        barrier.wait()
        mine = texts[offset::8]
        return bool(np.allclose(embedder.embed(mine), expected[offset::8], atol=1e-6))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(run, range(8)))
