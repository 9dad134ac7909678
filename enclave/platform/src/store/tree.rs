//! The Merkle tree that lets the sealed head commit to every entry while a read or an update
//! touches only one path: a fixed-shape tree of fan-out 16 and four levels over 65,536 buckets,
//! a bucket being the entries a keyed PRF of their keys puts there, sealed as one record.
//!
//! ```text
//! level 0: the root node (1)          its digest is the root the sealed head holds
//! level 1: 16 nodes                   node (ℓ, i)'s child j is node (ℓ+1, 16·i + j)
//! level 2: 256 nodes
//! level 3: 4,096 nodes                node (3, i)'s child j is bucket 16·i + j
//! buckets: 65,536
//! ```
//!
//! Empty subtrees have the all-zero digest and are not stored, so the tree costs space in
//! proportion to what it holds. Byte layout in `docs/formats.md`, "Sealed store".

use sha2::{Digest as _, Sha256};

/// A SHA-256 digest.
pub(super) type Digest = [u8; 32];
/// The digest of an empty bucket or subtree.
pub(super) const EMPTY: Digest = [0; 32];
/// Nodes to write after an update: table key and new encoding, `None` to remove an empty one.
pub(super) type NodeWrites = Vec<(u32, Option<Vec<u8>>)>;
/// Levels of nodes above the buckets.
pub(super) const LEVELS: u32 = 4;
/// Children per node.
const FAN_OUT: usize = 16;

/// The table key of node `index` at `level`: `level << 16 | index`.
pub(super) fn node_id(level: u32, bucket: u16) -> u32 {
    (level << 16) | (u32::from(bucket) >> (4 * (LEVELS - level)))
}

/// Which child of its level-`level` ancestor the path to `bucket` goes through.
fn slot(level: u32, bucket: u16) -> usize {
    usize::from((bucket >> (4 * (LEVELS - 1 - level))) & 0xf)
}

/// A node's child digests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Node {
    children: [Digest; FAN_OUT],
}

/// A stored node or bucket that does not match the digest its parent (or the sealed head)
/// holds, or a node that is not in the one encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TreeMismatch;

impl Node {
    /// `bitmap (u16 BE: bit j set when child j is not empty) || the non-empty child digests in
    /// order`; `None` for an empty node, which is not stored.
    pub(super) fn encode(&self) -> Option<Vec<u8>> {
        let mut bitmap = 0u16;
        let mut out = vec![0, 0];
        for (j, child) in self.children.iter().enumerate() {
            if *child != EMPTY {
                bitmap |= 1 << j;
                out.extend_from_slice(child);
            }
        }
        if bitmap == 0 {
            return None;
        }
        out.splice(0..2, bitmap.to_be_bytes());
        Some(out)
    }

    /// Decodes [`Node::encode`], refusing anything it would not produce.
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, TreeMismatch> {
        let (bitmap, mut rest) = bytes.split_at_checked(2).ok_or(TreeMismatch)?;
        let bitmap = u16::from_be_bytes(bitmap.try_into().map_err(|_| TreeMismatch)?);
        if bitmap == 0 {
            return Err(TreeMismatch);
        }
        let mut node = Self::default();
        for (j, child) in node.children.iter_mut().enumerate() {
            if bitmap & (1 << j) != 0 {
                let (digest, tail) = rest.split_at_checked(32).ok_or(TreeMismatch)?;
                *child = digest.try_into().map_err(|_| TreeMismatch)?;
                if *child == EMPTY {
                    return Err(TreeMismatch);
                }
                rest = tail;
            }
        }
        if !rest.is_empty() {
            return Err(TreeMismatch);
        }
        Ok(node)
    }

    /// `SHA-256(0x01 || encoding)`, or [`EMPTY`] for an empty node.
    pub(super) fn digest(&self) -> Digest {
        match self.encode() {
            Some(bytes) => {
                let mut hash = Sha256::new();
                hash.update([1]);
                hash.update(bytes);
                hash.finalize().into()
            }
            None => EMPTY,
        }
    }
}

/// The nodes from the root down to one bucket, each checked against its parent and the root
/// against the sealed head: only [`Path::verify`] makes one.
#[derive(Debug, Clone)]
pub(super) struct Path {
    bucket: u16,
    nodes: [Node; LEVELS as usize],
}

impl Path {
    /// Reads the nodes over `bucket` with `read` (the stored encoding, `None` when absent) and
    /// checks each against the digest above it, starting from `root`.
    pub(super) fn verify<E>(
        root: &Digest,
        bucket: u16,
        mut read: impl FnMut(u32) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<Result<Self, TreeMismatch>, E> {
        let mut nodes: [Node; LEVELS as usize] = Default::default();
        let mut expected = *root;
        for (level, node) in (0..LEVELS).zip(nodes.iter_mut()) {
            *node = match read(node_id(level, bucket))? {
                Some(bytes) => match Node::decode(&bytes) {
                    Ok(node) => node,
                    Err(e) => return Ok(Err(e)),
                },
                None => Node::default(),
            };
            if node.digest() != expected {
                return Ok(Err(TreeMismatch));
            }
            expected = node.child(slot(level, bucket));
        }
        Ok(Ok(Self { bucket, nodes }))
    }

    /// The digest the verified path holds for its bucket.
    pub(super) fn bucket_digest(&self) -> Digest {
        self.nodes
            .last()
            .map_or(EMPTY, |node| node.child(slot(LEVELS - 1, self.bucket)))
    }

    /// Puts `digest` in the bucket's place and recomputes the path: the new root, and each
    /// node's table key with its new encoding (`None`: now empty, to remove).
    pub(super) fn update(mut self, digest: Digest) -> (Digest, NodeWrites) {
        let mut below = digest;
        let mut writes = Vec::with_capacity(LEVELS as usize);
        for (level, node) in (0..LEVELS).zip(self.nodes.iter_mut()).rev() {
            node.set_child(slot(level, self.bucket), below);
            writes.push((node_id(level, self.bucket), node.encode()));
            below = node.digest();
        }
        (below, writes)
    }
}

impl Node {
    fn child(&self, j: usize) -> Digest {
        self.children.get(j).copied().unwrap_or(EMPTY)
    }

    fn set_child(&mut self, j: usize, digest: Digest) {
        if let Some(child) = self.children.get_mut(j) {
            *child = digest;
        }
    }
}

/// The whole tree over `(bucket, digest)` pairs in ascending bucket order, none empty: its root
/// and every non-empty node with its table key. For a full check of a store and for writing a
/// whole store at once.
pub(super) fn build(buckets: &[(u16, Digest)]) -> (Digest, Vec<(u32, Vec<u8>)>) {
    let mut level: Vec<(u32, Digest)> = buckets.iter().map(|(b, d)| (u32::from(*b), *d)).collect();
    let mut stored = Vec::new();
    for depth in (0..LEVELS).rev() {
        let mut parents: Vec<(u32, Node)> = Vec::new();
        for (index, digest) in level {
            let parent = index >> 4;
            if parents.last().map(|(p, _)| *p) != Some(parent) {
                parents.push((parent, Node::default()));
            }
            if let Some((_, node)) = parents.last_mut() {
                node.set_child((index & 0xf) as usize, digest);
            }
        }
        level = Vec::with_capacity(parents.len());
        for (index, node) in parents {
            if let Some(bytes) = node.encode() {
                stored.push(((depth << 16) | index, bytes));
            }
            level.push((index, node.digest()));
        }
    }
    (level.first().map_or(EMPTY, |(_, d)| *d), stored)
}
