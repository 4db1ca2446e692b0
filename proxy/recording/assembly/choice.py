"""One choice of an answer, accumulated from fragments: its text, refusal, finish reason and
tool calls. Chat Completions, the Responses API and Anthropic Messages fill it, each from its
own events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.recording.assembly.common import as_dict, as_int, as_list, as_str
from proxy.recording.encode import ChoiceData, ToolCallData

__all__ = ["ChoiceAcc", "ToolAcc"]


@dataclass
class ToolAcc:
    id: str | None = None
    name: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    final_arguments: str | None = None  # a whole value, used when no fragments arrived

    def tool_call(self) -> ToolCallData:
        args = "".join(self.arguments) if self.arguments else (self.final_arguments or "")
        return {"id": self.id, "name": "".join(self.name), "arguments": args}


@dataclass
class ChoiceAcc:
    text: list[str] = field(default_factory=list)
    refusal: list[str] | None = None
    reasoning: list[str] | None = None
    finish_reason: str | None = None
    tools: dict[int, ToolAcc] = field(default_factory=dict)
    # Kept alongside ``tools`` so that index-less fragments cost O(1), even from a hostile upstream.
    tool_ids: set[str] = field(default_factory=set)
    top_tool: int = -1

    def choice(self, index: int) -> ChoiceData:
        return {
            "index": index,
            "text": "".join(self.text),
            "tool_calls": [self.tools[i].tool_call() for i in sorted(self.tools)],
            "finish_reason": self.finish_reason,
            "refusal": None if self.refusal is None else "".join(self.refusal),
            "reasoning": None if self.reasoning is None else "".join(self.reasoning),
        }

    def add_message(self, message: dict[str, Any], *, whole: bool) -> None:
        """Merge a streamed ``delta`` or a whole ``message``; both share one shape."""
        if (content := as_str(message.get("content"))) is not None:
            self.text.append(content)
        if (refusal := as_str(message.get("refusal"))) is not None:
            self.add_refusal(refusal)
        for position, raw in enumerate(as_list(message.get("tool_calls"))):
            if (call := as_dict(raw)) is None:
                continue
            index = self._tool_index(call, position, whole=whole)
            self.top_tool = max(self.top_tool, index)
            slot = self.tools.setdefault(index, ToolAcc())
            if slot.id is None and (call_id := as_str(call.get("id"))):
                slot.id = call_id
                self.tool_ids.add(call_id)
            function = as_dict(call.get("function")) or {}
            if (name := as_str(function.get("name"))) is not None:
                slot.name.append(name)
            if (arguments := as_str(function.get("arguments"))) is not None:
                slot.arguments.append(arguments)

    def add_refusal(self, fragment: str) -> None:
        if self.refusal is None:
            self.refusal = []
        self.refusal.append(fragment)

    def add_reasoning(self, fragment: str) -> None:
        if self.reasoning is None:
            self.reasoning = []
        self.reasoning.append(fragment)

    def _tool_index(self, call: dict[str, Any], position: int, *, whole: bool) -> int:
        if (index := as_int(call.get("index"))) is not None:
            return index
        if whole:
            return position
        # Some OpenAI-compatible servers omit the index and send each call whole: a new id
        # means a new call, anything else continues the latest one.
        call_id = as_str(call.get("id"))
        if call_id and call_id not in self.tool_ids:
            return self.top_tool + 1
        return max(self.top_tool, 0)
