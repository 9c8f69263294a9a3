//! Ownership by rendezvous (highest random weight) hashing: every node computes the same
//! owner of an RTU from the same live set, without an election, and a node joining or leaving
//! moves only the RTUs it wins or held.
//!
//! The score of node `n` for RTU `r` is `mix64(fnv1a64(r ‖ 0x00 ‖ n))`: FNV-1a 64 (offset basis
//! 0xcbf29ce484222325, prime 0x100000001b3, published constants) over the RTU name, one zero
//! byte and the node id, then the MurmurHash3 64-bit finaliser (`fmix64`) so that names that
//! differ in one trailing character do not get nearly equal scores. Ties (practically never)
//! go to the smaller node id. Both functions are fixed here; they never depend on the Rust
//! version (unlike std's `DefaultHasher`).

pub use crate::model::hash::fnv1a64;

/// MurmurHash3's 64-bit finaliser (`fmix64`).
pub fn mix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The rendezvous score of `node` for `rtu`.
pub fn score(rtu: &str, node: &str) -> u64 {
    let mut bytes = Vec::with_capacity(rtu.len() + node.len() + 1);
    bytes.extend_from_slice(rtu.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(node.as_bytes());
    mix64(fnv1a64(&bytes))
}

/// The candidates for `rtu` in order of preference: the preferred node first when it is a
/// candidate, then by descending score. The first is the owner, the next `standby` ones
/// keep hot standby connections.
pub fn ranking<'a>(rtu: &str, preferred: Option<&str>, candidates: &[&'a str]) -> Vec<&'a str> {
    let mut ranked: Vec<(&'a str, u64)> = candidates.iter().map(|n| (*n, score(rtu, n))).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.dedup_by(|a, b| a.0 == b.0);
    let mut out: Vec<&'a str> = ranked.into_iter().map(|(n, _)| n).collect();
    if let Some(p) = preferred {
        if let Some(i) = out.iter().position(|n| *n == p) {
            let n = out.remove(i);
            out.insert(0, n);
        }
    }
    out
}

/// The owner of `rtu` among `candidates` (None when there is no candidate).
#[cfg_attr(not(test), allow(dead_code))]
pub fn owner<'a>(rtu: &str, preferred: Option<&str>, candidates: &[&'a str]) -> Option<&'a str> {
    ranking(rtu, preferred, candidates).first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        // From the FNV reference test suite (Fowler/Noll/Vo, "FNV test vectors"):
        // FNV-1a 64 of "" is the offset basis, of "a" 0xaf63dc4c8601ec8c, of "foobar"
        // 0x85944171f73967e8.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn mix64_is_murmur3_fmix64() {
        // fmix64(0) = 0 (every step keeps 0). fmix64(1) was computed apart from this code,
        // with a five-line Python transcription of MurmurHash3's fmix64 (k ^= k>>33;
        // k *= 0xff51afd7ed558ccd; k ^= k>>33; k *= 0xc4ceb9fe1a85ec53; k ^= k>>33, mod 2^64).
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0xb456bcfc34c2cb2c);
    }

    #[test]
    fn score_is_fixed() {
        // Pinned (computed with the same independent Python transcription of FNV-1a 64 and
        // fmix64) so that a change of the hash, which would make nodes of different versions
        // disagree about owners, fails here.
        assert_eq!(score("a", "b"), 0xab78f5eca36d0e2b);
        assert_eq!(score("sub1", "gw-a"), 0xc120a680ed090762);
        assert_ne!(score("a", "b"), score("b", "a"));
    }

    #[test]
    fn preferred_node_wins_while_live() {
        let nodes = ["gw-a", "gw-b", "gw-c"];
        for rtu in ["sub1", "sub2", "sub3", "sub4"] {
            for p in nodes {
                assert_eq!(owner(rtu, Some(p), &nodes), Some(p));
            }
            // Not live: the usual owner.
            assert_eq!(owner(rtu, Some("gw-z"), &nodes), owner(rtu, None, &nodes));
        }
        assert_eq!(owner("sub1", None, &[]), None);
    }

    #[test]
    fn ownership_spreads() {
        let nodes = ["gw-a", "gw-b", "gw-c"];
        let mut count = [0usize; 3];
        for i in 0..300 {
            let o = owner(&format!("rtu{i}"), None, &nodes).unwrap();
            let k = nodes.iter().position(|n| *n == o).unwrap();
            count[k] += 1;
        }
        // 100 expected each; a badly mixed hash would give one node nearly everything.
        assert!(count.iter().all(|c| (60..=140).contains(c)), "{count:?}");
    }

    proptest! {
        #[test]
        fn a_leaving_node_moves_only_its_share(
            rtus in proptest::collection::vec("[a-z0-9]{1,8}", 1..40),
            n in 2usize..6,
            gone in 0usize..6,
        ) {
            let names: Vec<String> = (0..n).map(|i| format!("gw-{i}")).collect();
            let all: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
            let gone = gone % n;
            let rest: Vec<&str> = all.iter().copied().filter(|x| *x != all[gone]).collect();
            for r in &rtus {
                let before = owner(r, None, &all).unwrap();
                let after = owner(r, None, &rest).unwrap();
                if before != all[gone] {
                    prop_assert_eq!(before, after);
                }
                // The order of the others is kept: the new owner is the old second.
                let rank = ranking(r, None, &all);
                if before == all[gone] {
                    prop_assert_eq!(after, rank[1]);
                }
            }
        }

        #[test]
        fn a_joining_node_takes_only_what_it_wins(
            rtus in proptest::collection::vec("[a-z0-9]{1,8}", 1..40),
            n in 1usize..6,
        ) {
            let names: Vec<String> = (0..=n).map(|i| format!("gw-{i}")).collect();
            let all: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
            let before_set = &all[..n];
            for r in &rtus {
                let before = owner(r, None, before_set).unwrap();
                let after = owner(r, None, &all).unwrap();
                prop_assert!(after == before || after == all[n]);
            }
        }

        #[test]
        fn same_answer_whatever_the_order(
            rtu in "[a-z0-9]{1,8}",
            mut nodes in proptest::collection::vec("[a-z]{1,4}", 1..6),
        ) {
            let a: Vec<&str> = nodes.iter().map(|s| s.as_str()).collect();
            let first: Vec<String> = ranking(&rtu, None, &a).into_iter().map(str::to_owned).collect();
            nodes.reverse();
            let b: Vec<&str> = nodes.iter().map(|s| s.as_str()).collect();
            let second: Vec<String> = ranking(&rtu, None, &b).into_iter().map(str::to_owned).collect();
            prop_assert_eq!(first, second);
        }
    }
}
