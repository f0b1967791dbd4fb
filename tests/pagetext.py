"""A page's HTML read as a tree (the standard library's parser), for tests that check what a
page says where: the text of an element, the links in it, the attributes of a field."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text inside, with runs of white space made one space."""
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def walk(self) -> list[Node]:
        found = [self]
        for child in self.children:
            if isinstance(child, Node):
                found += child.walk()
        return found

    def all(self, tag: str, **attrs: str) -> list[Node]:
        """Every element inside of ``tag`` whose attributes include ``attrs`` (``class_``
        for a class among its classes)."""
        wanted = attrs.pop("class_", None)
        return [
            n
            for n in self.walk()[1:]
            if n.tag == tag
            and all(n.attrs.get(k) == v for k, v in attrs.items())
            and (wanted is None or wanted in n.attrs.get("class", "").split())
        ]


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("document", {})
        self._open = [self.root]
        self.feed(html)
        self.by_id = {n.attrs["id"]: n for n in self.root.walk() if "id" in n.attrs}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self._open[-1].children.append(node)
        if tag not in VOID:
            self._open.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._open[-1].children.append(data)

    def __getitem__(self, element_id: str) -> Node:
        return self.by_id[element_id]
