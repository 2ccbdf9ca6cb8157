"""reconciler.render.budget: what fits in one GitHub comment, measured as GitHub measures it.

A plan or drift report posted to a pull request or an issue must stay under GitHub's
comment limit; sizes are UTF-16 code units (an emoji counts twice), not characters.
"""

from __future__ import annotations

__all__ = ["MARKDOWN_LIMIT", "Budget", "utf16_length"]

#: GitHub refuses comments above 65,536 characters; stay under with room to spare.
MARKDOWN_LIMIT = 65_000


def utf16_length(text: str) -> int:
    """The length of text in UTF-16 code units (characters beyond U+FFFF count twice)."""
    return len(text.encode("utf-16-le")) // 2


class Budget:
    """Text that grows block by block and never passes its limit (room kept for a note).

    Sizes are UTF-16 code units, as GitHub counts a comment: an emoji counts twice.
    """

    NOTE_ROOM = 400

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def add(self, block: str) -> bool:
        """Append block if it fits with room left for the note; say whether it did."""
        size = utf16_length(block)
        if self.size + size + self.NOTE_ROOM >= self.limit:
            return False
        self.parts.append(block)
        self.size += size
        return True

    def finish(self, note: str) -> None:
        """Close with note (cut to what is left)."""
        # The note is ASCII: one code unit per character.
        self.parts.append(note[: max(0, self.limit - self.size - 1)])

    def text(self) -> str:
        """Everything added so far, the note last."""
        return "".join(self.parts)
