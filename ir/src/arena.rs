//! Arenas with typed 32-bit handles, and side tables keyed by handle.
//!
//! Every IR entity (value, op) lives in an [`Arena`] and is named by a [`Handle`]: a `u32`
//! index tagged with the type it indexes, so a value handle can never be used to index ops.
//! Analyses keep their facts outside the IR in a [`HandleMap`] (cranelift's `SecondaryMap`).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// A typed index into an [`Arena<T>`].
pub struct Handle<T> {
    index: u32,
    marker: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    /// The handle of the `index`-th entry of an arena.
    pub fn from_index(index: usize) -> Self {
        let index = u32::try_from(index).expect("arena holds at most u32::MAX entries");
        Handle {
            index,
            marker: PhantomData,
        }
    }

    /// The position of this handle's entry in its arena.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Handle<T> {}
impl<T> PartialEq for Handle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}
impl<T> Eq for Handle<T> {}
impl<T> PartialOrd for Handle<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Handle<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index.cmp(&other.index)
    }
}
impl<T> Hash for Handle<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index.hash(state);
    }
}
impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index)
    }
}

/// Append-only storage addressed by [`Handle`]s.
#[derive(Clone, Debug)]
pub struct Arena<T> {
    items: Vec<T>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { items: Vec::new() }
    }
}

impl<T> Arena<T> {
    /// An empty arena.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `item` and returns its handle.
    pub fn push(&mut self, item: T) -> Handle<T> {
        let handle = Handle::from_index(self.items.len());
        self.items.push(item);
        handle
    }

    /// Number of entries ever pushed.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// True when `handle` indexes an entry of this arena.
    pub fn contains(&self, handle: Handle<T>) -> bool {
        handle.index() < self.items.len()
    }

    /// The entry of `handle`, if it is in range.
    pub fn get(&self, handle: Handle<T>) -> Option<&T> {
        self.items.get(handle.index())
    }

    /// Every handle with its entry, in push order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Handle<T>, &T)> + '_ {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| (Handle::from_index(i), item))
    }
}

impl<T> std::ops::Index<Handle<T>> for Arena<T> {
    type Output = T;
    fn index(&self, handle: Handle<T>) -> &T {
        &self.items[handle.index()]
    }
}

impl<T> std::ops::IndexMut<Handle<T>> for Arena<T> {
    fn index_mut(&mut self, handle: Handle<T>) -> &mut T {
        &mut self.items[handle.index()]
    }
}

/// A side table from handles to facts, growing on demand; absent keys read as `V::default()`.
#[derive(Clone, Debug)]
pub struct HandleMap<K, V> {
    items: Vec<V>,
    default: V,
    marker: PhantomData<fn() -> K>,
}

impl<K, V: Clone + Default> Default for HandleMap<K, V> {
    fn default() -> Self {
        HandleMap {
            items: Vec::new(),
            default: V::default(),
            marker: PhantomData,
        }
    }
}

impl<K, V: Clone + Default> HandleMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fact stored for `key`, or the default.
    pub fn get(&self, key: Handle<K>) -> &V {
        self.items.get(key.index()).unwrap_or(&self.default)
    }

    /// Mutable access to the fact of `key`, inserting the default first if needed.
    pub fn get_mut(&mut self, key: Handle<K>) -> &mut V {
        if key.index() >= self.items.len() {
            self.items.resize(key.index() + 1, V::default());
        }
        &mut self.items[key.index()]
    }

    /// Stores `value` for `key`.
    pub fn insert(&mut self, key: Handle<K>, value: V) {
        *self.get_mut(key) = value;
    }
}

impl<K, V: Clone + Default> std::ops::Index<Handle<K>> for HandleMap<K, V> {
    type Output = V;
    fn index(&self, key: Handle<K>) -> &V {
        self.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_index_their_arena() {
        let mut arena = Arena::new();
        let a = arena.push("a");
        let b = arena.push("b");
        assert_eq!((arena[a], arena[b]), ("a", "b"));
        assert!(arena.contains(b));
        assert!(!arena.contains(Handle::from_index(2)));
        assert_eq!(
            arena.iter().map(|(h, _)| h.index()).collect::<Vec<_>>(),
            [0, 1]
        );
    }

    #[test]
    fn handle_map_reads_default_for_missing_keys() {
        let mut map: HandleMap<&str, u32> = HandleMap::new();
        let k = Handle::from_index(5);
        assert_eq!(map[k], 0);
        map.insert(k, 7);
        assert_eq!(map[k], 7);
        assert_eq!(map[Handle::from_index(1)], 0);
    }
}
