"""The JSON shapes the planner reads and writes (stored on jobs, sent in task messages).

Parent outputs (`NodeOutput`) and the flowInput (`FlowInput`) are what `planning.plan_node`
reads; a `Plan` with its `Ref`s is what it writes; `Link`s are HKube's storage references
(semantics §2.5) that `planning.expand_item` hands to readers and wrappers.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from pipelines.engine.references import Metadata

# --- what the engine knows about finished parents (JSON, stored on the job's nodes) ---------


class StorageInfo(TypedDict):
    path: str
    size: NotRequired[int]


class Link(TypedDict):
    """HKube's link: the stored object and the object-path inside it (semantics §2.5)."""

    storageInfo: StorageInfo
    path: NotRequired[str]
    metadata: NotRequired[dict[str, Metadata]]


class SingleOutput(TypedDict):
    """A finished one-task node; `link` is None when it failed. `metadata` is keyed by savePath."""

    kind: Literal["single"]
    status: str
    link: Link | None
    metadata: dict[str, Metadata]


class BatchOutput(TypedDict):
    """A batch (or wait-any) node: items 1..count, stored at their derived taskIds.

    `failed` lists the batchIndexes that have no output. Also given for a batch parent that is
    still running when a `*@` child is planned (status 'active', count known, failed so far).
    """

    kind: Literal["batch"]
    status: str
    jobId: str
    nodeName: str
    count: int
    failed: list[int]


class SkippedOutput(TypedDict):
    kind: Literal["skipped"]


NodeOutput = SingleOutput | BatchOutput | SkippedOutput


class FlowInput(TypedDict):
    """The job's stored flowInput and the metadata of every referenced path."""

    storageInfo: StorageInfo
    metadata: dict[str, Metadata]


# --- refs: where each placeholder's value comes from ------------------------------------------


class LinkRef(TypedDict):
    """One value: `@flowInput.p`, `@A[.p]` on a single node (None: nothing to read → null)."""

    type: Literal["link"]
    link: Link | None


class ItemsOf(TypedDict):
    cluster: str
    jobId: str
    node: str
    count: int
    failed: list[int]  # sorted, unique, within 1..count
    path: str


class CollectRef(ItemsOf):
    """`@B[.p]` on a batch node: a list of B's items in batchIndex order, None for failed ones."""

    type: Literal["collect"]


class EmptyListRef(TypedDict):
    """`@S` on a skipped node: []."""

    type: Literal["empty-list"]


class BatchLinkRef(TypedDict):
    """`#@A.p` on a single node or `#@flowInput.p`: item k is `<p>.<k>` inside one object."""

    type: Literal["batch-link"]
    link: Link | None
    size: int


class BatchItemsRef(ItemsOf):
    """`#@B[.p]` on a batch node: one item per non-failed item of B."""

    type: Literal["batch-items"]
    size: int


class RangeSegment(TypedDict):
    start: int
    stop: int  # inclusive, as HKube writes ranges


class BatchValuesRef(TypedDict):
    """`#[...]`: the strings and (unexpanded) ranges the user wrote."""

    type: Literal["batch-values"]
    segments: list[str | RangeSegment]
    size: int


class BatchRangeRef(TypedDict):
    """`#[a...b]` that is exactly one range."""

    type: Literal["batch-range"]
    start: int
    stop: int
    size: int


class AnyRef(ItemsOf):
    """`*@B[.p]` on a batch node: B's item with the same batchIndex as this node's item."""

    type: Literal["any"]


Ref = (
    LinkRef
    | CollectRef
    | EmptyListRef
    | BatchLinkRef
    | BatchItemsRef
    | BatchValuesRef
    | BatchRangeRef
    | AnyRef
)
BatchRef = BatchLinkRef | BatchItemsRef | BatchValuesRef | BatchRangeRef


class Plan(TypedDict):
    template: Any
    refs: dict[str, Ref]
    batch: bool
    operation: Literal["indexed", "cartesian"]
    count: int  # batch: items; wait-any: largest parent count; single: 1; 0 means skip the node
    waitAny: list[str]  # the `*@` batch parents whose items drive this node's items
    sources: list[str]  # batch ref keys in leaf order (the first is cartesian's outer loop)


StorageValue = Link | list[Link | None]
