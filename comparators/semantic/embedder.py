"""Sentence embeddings for the analysis plane: a packaged local model, or an endpoint on request.

Comparing the *meaning* of two answers (is this a refusal? do the two models say the same
thing?) needs a vector per text. Two sources, one :class:`Embedder` protocol:

* :class:`WordLlamaEmbedder`, the default: the 16 MB, 256-dimension ``l2_supercat`` model that
  the ``wordllama`` wheel carries. Loading takes a fraction of a second, one short text embeds
  in tens of microseconds, and nothing ever leaves the machine: the wheel's files are loaded
  with downloads disabled, so a missing file is an :class:`EmbedderUnavailableError`, never a
  silent fetch from Hugging Face. It is a bag of token vectors, good at topic and wording and
  weak at negation; the refusal detector leans on nearest exemplars for that reason.
* :class:`EndpointEmbedder`: any OpenAI-compatible ``/v1/embeddings`` endpoint
  (:class:`EmbeddingsEndpoint`), called with the official ``openai`` SDK. A failed call raises
  :class:`EmbeddingEndpointError` (an :class:`EmbeddingError`), so a comparator marks the pair
  unscored instead of guessing.

Rows are L2-normalised float32, so a dot product is the cosine. The empty text is the zero
vector: it is similar to nothing, including itself, because there is no meaning to compare.

:func:`load_embedder` shares one :class:`CachedEmbedder` per source per process: the model is
loaded once, on first use, under a lock; and a text seen recently (the incumbent's answer is
compared with every mirror's) is not embedded again.

Exceptions::

    EmbedderUnavailableError  (RuntimeError)    wordllama not installed, or its files missing
    EmbeddingError            (RuntimeError)    these texts could not be embedded: score the
                                                pair as unscored, do not guess
      EmbeddingEndpointError  (EmbeddingError)  the endpoint failed, timed out or answered badly
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    import openai

__all__ = [
    "CacheInfo",
    "CachedEmbedder",
    "Embedder",
    "EmbedderUnavailableError",
    "EmbeddingEndpointError",
    "EmbeddingError",
    "EmbeddingsEndpoint",
    "EndpointEmbedder",
    "Vectors",
    "WordLlamaEmbedder",
    "expand_env",
    "load_embedder",
]

logger = logging.getLogger(__name__)

Vectors = np.ndarray[Any, np.dtype[np.float32]]
"""``(n, d)`` float32, one L2-normalised row per text (the zero row for an empty text)."""


@runtime_checkable
class Embedder(Protocol):
    """What a comparator needs: vectors for texts, and a name for the report."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class EmbedderUnavailableError(RuntimeError):
    """The embedder cannot be built: a setup problem to fix, not a pair to skip."""


class EmbeddingError(RuntimeError):
    """These texts could not be embedded. The caller marks the pair unscored: a guess would
    turn an outage into a measured difference."""


class EmbeddingEndpointError(EmbeddingError):
    """The embeddings endpoint did not give usable vectors: an HTTP error, a timeout, a refused
    connection, or an answer with the wrong number or shape of vectors."""


def _clean(text: str) -> str:
    """The text with lone surrogates (which JSON can carry) replaced: tokenizers and the SDK's
    JSON encoder both reject them, and one odd answer must not stop a whole batch."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _normalised(rows: np.ndarray[Any, Any]) -> Vectors:
    """Rows scaled to unit length; a zero row (an empty text) stays zero rather than NaN."""
    values: Vectors = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    out: Vectors = np.zeros_like(values)
    np.divide(values, norms, out=out, where=norms > 0)
    return out


# --- the packaged local model ---------------------------------------------------------------

WORDLLAMA_CONFIG = "l2_supercat"
WORDLLAMA_DIM = 256
_WEIGHTS = f"weights/{WORDLLAMA_CONFIG}_{WORDLLAMA_DIM}.safetensors"
_TOKENIZER = f"tokenizers/{WORDLLAMA_CONFIG}_tokenizer_config.json"
_INSTALL_HINT = "install it with: pip install 'darklaunch[analysis]'"


def _import_wordllama() -> Any:
    """``import wordllama``, without the root-logger side effect: its modules call
    ``logging.basicConfig(level=INFO)`` on import, which would make every library's INFO lines
    appear in our CLI's output. Handlers it adds and the level it sets are undone.

    The tokenizer's thread pool is switched off (``TOKENIZERS_PARALLELISM=false``, unless the
    environment says otherwise): the comparator embeds a few sentences at a time, where
    handing them to threads costs more than it saves (1,560 against 2,272 scored pairs per
    second on two busy cores), and workers scale out by process anyway."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama  # type: ignore[import-untyped]
    except ImportError as exc:
        raise EmbedderUnavailableError(
            f"the local embedding model needs the 'wordllama' package, which is not "
            f"importable ({exc}); {_INSTALL_HINT}"
        ) from exc
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return wordllama


class WordLlamaEmbedder:
    """The ``l2_supercat`` 256-dimension model from the ``wordllama`` wheel, loaded offline.

    wordllama looks for its tokenizer under ``<package>/tokenizer/`` while the wheel ships
    ``<package>/tokenizers/``, so by default it would download the file from Hugging Face.
    Passing the package folder as ``cache_dir`` finds both files, and ``disable_download``
    turns any file still missing into an error instead of a network call. The files are
    checked first so that error names the path and the fix.
    """

    name = f"wordllama {WORDLLAMA_CONFIG} {WORDLLAMA_DIM}"

    def __init__(self) -> None:
        wordllama = _import_wordllama()
        folder = Path(wordllama.__file__).parent
        missing = [
            str(folder / part) for part in (_WEIGHTS, _TOKENIZER) if not (folder / part).is_file()
        ]
        if missing:
            raise EmbedderUnavailableError(
                f"wordllama {getattr(wordllama, '__version__', '?')}: model file(s) "
                f"{', '.join(missing)} not found; expected the files its wheel ships (downloads "
                f"are disabled); reinstall it: pip install --force-reinstall "
                f"'darklaunch[analysis]'"
            )
        try:
            self._model = wordllama.WordLlama.load(
                config=WORDLLAMA_CONFIG,
                dim=WORDLLAMA_DIM,
                cache_dir=folder,
                disable_download=True,
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise EmbedderUnavailableError(
                f"wordllama model in {folder} did not load ({exc}); expected the wheel's "
                f"{_WEIGHTS} and {_TOKENIZER}; {_INSTALL_HINT}"
            ) from exc
        # The tokenizer is Rust behind a Python object; one caller at a time keeps it simple,
        # and costs nothing next to the GIL the embedding already holds.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, WORDLLAMA_DIM), dtype=np.float32)
        with self._lock:
            rows = self._model.embed([_clean(text) for text in texts], norm=False)
        return _normalised(rows)


# --- an OpenAI-compatible endpoint -----------------------------------------------------------

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: str, key: str, env: Mapping[str, str] | None = None) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in ``value`` replaced from the environment, the same
    syntax as the darklaunch config, so a secret lives in the environment and not in a file.
    An unset variable without a default is a :class:`ValueError` naming ``key`` and it."""
    environ: Mapping[str, str] = os.environ if env is None else env

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ValueError(f"{key}: environment variable ${{{name}}} is not set; expected it set")

    return _ENV_PATTERN.sub(substitute, value)


class EmbeddingsEndpoint(BaseModel):
    """An OpenAI-compatible embeddings endpoint, e.g.
    ``{url: "http://127.0.0.1:8080/v1", model: bge-small, headers: {Authorization: "Bearer
    ${EMBED_KEY}"}}``.

    ``url`` is the base URL as the ``openai`` SDK takes it: requests go to ``<url>/embeddings``.
    ``headers`` are sent with every request, after ``${VAR}`` expansion at load; they are kept
    out of ``repr`` since they usually hold a key. The SDK's own ``OPENAI_API_KEY`` lookup is
    bypassed, so a key meant for OpenAI never travels to another endpoint: authenticate with an
    ``Authorization`` header here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://\S+$")
    model: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    batch_size: int = Field(default=64, ge=1, le=2048)
    max_retries: int = Field(default=1, ge=0, le=5)

    @field_validator("url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _expand_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: expand_env(text, f"headers.{name}") for name, text in value.items()}


class EndpointEmbedder:
    """Vectors from an :class:`EmbeddingsEndpoint`, through the official ``openai`` SDK (which
    asks for base64 and decodes it). Texts go in batches of ``batch_size``; empty texts are not
    sent (the API rejects them) and come back as zero rows. Every failure, HTTP error, timeout,
    refused connection or an answer with the wrong number or shape of vectors, is an
    :class:`EmbeddingEndpointError` naming the endpoint and the reason."""

    def __init__(self, endpoint: EmbeddingsEndpoint) -> None:
        import openai

        self.endpoint = endpoint
        self.name = f"endpoint {endpoint.model} at {endpoint.url}"
        self._dimensions: int | None = None
        self._client: openai.OpenAI = openai.OpenAI(
            base_url=endpoint.url,
            api_key="darklaunch-no-key",  # the headers option authenticates, see the model
            timeout=endpoint.timeout_s,
            max_retries=endpoint.max_retries,
            default_headers=endpoint.headers,
        )

    def close(self) -> None:
        self._client.close()

    def embed(self, texts: Sequence[str]) -> Vectors:
        wanted = [(index, _clean(text)) for index, text in enumerate(texts) if text]
        found: list[np.ndarray[Any, Any]] = []
        size = self.endpoint.batch_size
        for start in range(0, len(wanted), size):
            found.extend(self._batch([text for _, text in wanted[start : start + size]]))
        if self._dimensions is None and texts:
            self._batch(["dimension probe"])  # only empty texts so far: learn the size
        rows = np.zeros((len(texts), self._dimensions or 0), dtype=np.float32)
        for (index, _), vector in zip(wanted, found, strict=False):
            rows[index] = vector
        return _normalised(rows)

    def _fail(self, reason: str) -> EmbeddingEndpointError:
        return EmbeddingEndpointError(
            f"embeddings endpoint {self.endpoint.url} (model {self.endpoint.model!r}): {reason}"
        )

    def _batch(self, texts: list[str]) -> list[np.ndarray[Any, Any]]:
        import openai

        try:
            answer = self._client.embeddings.create(model=self.endpoint.model, input=texts)
        except openai.APITimeoutError as exc:
            raise self._fail(f"no answer within timeout_s={self.endpoint.timeout_s}") from exc
        except openai.APIStatusError as exc:
            raise self._fail(f"answered HTTP {exc.status_code}: {exc.message}") from exc
        except openai.APIError as exc:
            raise self._fail(f"{type(exc).__name__}: {exc}") from exc
        except (ValueError, TypeError) as exc:  # a body the SDK could not decode
            raise self._fail(f"unreadable answer ({exc})") from exc
        items = sorted(answer.data, key=lambda item: item.index)
        if [item.index for item in items] != list(range(len(texts))):
            raise self._fail(
                f"answered indexes {[item.index for item in items]} for {len(texts)} inputs; "
                f"expected 0..{len(texts) - 1}"
            )
        vectors = [np.asarray(item.embedding, dtype=np.float32) for item in items]
        dims = {len(vector) for vector in vectors}
        expected = {self._dimensions} if self._dimensions is not None else dims
        if len(dims) != 1 or dims != expected or 0 in dims:
            raise self._fail(
                f"answered vectors of {sorted(dims)} dimensions; expected one non-zero size"
                + (f" ({self._dimensions})" if self._dimensions is not None else "")
            )
        if not all(np.isfinite(vector).all() for vector in vectors):
            raise self._fail("answered vectors with NaN or infinite values; expected finite")
        self._dimensions = dims.pop()
        return vectors


# --- the cache and the shared instances -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheInfo:
    hits: int
    misses: int
    size: int
    maxsize: int


class CachedEmbedder:
    """An :class:`Embedder` that remembers the last ``maxsize`` texts' vectors (least recently
    used first out). Keys are 16-byte BLAKE2 digests of the text, so a long answer costs its
    vector and not its text. Vectors are read-only, so no caller can change another's."""

    def __init__(self, inner: Embedder, maxsize: int = 4096) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize: {maxsize!r}; expected a positive number of vectors")
        self.inner = inner
        self.maxsize = maxsize
        self._vectors: OrderedDict[bytes, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._vectors), self.maxsize)

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [
            hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            for t in texts
        ]
        rows: list[Vectors | None] = []
        with self._lock:
            for key in keys:
                row = self._vectors.get(key)
                if row is not None:
                    self._vectors.move_to_end(key)
                rows.append(row)
        todo = {key: text for key, text, row in zip(keys, texts, rows, strict=True) if row is None}
        fresh: dict[bytes, Vectors] = {}
        if todo:
            # One copy per row: a view would keep the whole batch alive while any row is cached.
            for key, row in zip(todo, self.inner.embed(list(todo.values())), strict=True):
                fresh[key] = row.copy()
                fresh[key].setflags(write=False)
        with self._lock:
            self._hits += len(keys) - sum(row is None for row in rows)
            self._misses += sum(row is None for row in rows)
            for key, vector in fresh.items():
                self._vectors[key] = vector
                self._vectors.move_to_end(key)
            while len(self._vectors) > self.maxsize:
                self._vectors.popitem(last=False)
        if not keys:
            return self.inner.embed([])
        return np.stack(
            [row if row is not None else fresh[key] for key, row in zip(keys, rows, strict=True)]
        )


_SHARED: dict[str, CachedEmbedder] = {}
_SHARED_LOCK = threading.Lock()


def load_embedder(endpoint: EmbeddingsEndpoint | None = None) -> CachedEmbedder:
    """The process's embedder for ``endpoint`` (the packaged local model when ``None``), built
    on the first call and shared after: the lock is held while the model loads, so threads that
    ask at the same time wait for the one load instead of each doing it."""
    key = "wordllama" if endpoint is None else endpoint.model_dump_json()
    with _SHARED_LOCK:
        embedder = _SHARED.get(key)
        if embedder is None:
            inner: Embedder = (
                WordLlamaEmbedder() if endpoint is None else EndpointEmbedder(endpoint)
            )
            embedder = _SHARED[key] = CachedEmbedder(inner)
            logger.info("embedder loaded: %s", embedder.name)
    return embedder
