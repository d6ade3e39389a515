//! The part size of multipart uploads.
//!
//! Object stores upload large objects in parts, and S3 allows at most 10,000 of them (GCS and
//! Azure are similar or more lenient). A backup stream's size is only known approximately
//! beforehand (the source's estimate), so [`chunk_size`] picks a part size that keeps an object
//! of up to **twice** the hint within 9,000 parts, leaving headroom below the hard limit.
//! Memory use of an upload is about `chunk size × (concurrency + 1)`.

/// One mebibyte.
pub const MIB: u64 = 1024 * 1024;

/// The smallest part size lifeboat uses (S3's own minimum is 5 MiB).
pub const MIN_CHUNK_SIZE: u64 = 8 * MIB;

/// The part size when the stream's size is unknown. With S3's 10,000 parts this caps an object
/// at [`MAX_OBJECT_SIZE_WITHOUT_HINT`] (156.25 GiB): pass a size hint for larger backups.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 * MIB;

/// The largest part size (S3's limit: 5 GiB).
pub const MAX_CHUNK_SIZE: u64 = 5 * 1024 * MIB;

/// How many parts [`chunk_size`] aims at for twice the size hint.
pub const TARGET_PARTS: u64 = 9_000;

/// S3's hard limit on the number of parts of one upload.
pub const MAX_PARTS: u64 = 10_000;

/// The largest object an upload without a size hint can hold:
/// [`DEFAULT_CHUNK_SIZE`] × [`MAX_PARTS`] = 156.25 GiB.
pub const MAX_OBJECT_SIZE_WITHOUT_HINT: u64 = DEFAULT_CHUNK_SIZE * MAX_PARTS;

/// The part size for an upload whose stream is expected to be about `size_hint` bytes.
///
/// At least [`MIN_CHUNK_SIZE`], large enough that `2 × size_hint` fits in [`TARGET_PARTS`]
/// parts, rounded up to a whole MiB, and at most [`MAX_CHUNK_SIZE`]. Without a hint:
/// [`DEFAULT_CHUNK_SIZE`]. The guarantee of at most 10,000 parts for up to twice the hint holds
/// for hints up to about 22 TiB (beyond, the 5 GiB cap wins; S3's largest object is 5 TiB).
pub fn chunk_size(size_hint: Option<u64>) -> usize {
    let bytes = match size_hint {
        None => DEFAULT_CHUNK_SIZE,
        Some(hint) => {
            let per_part = hint.saturating_mul(2).div_ceil(TARGET_PARTS);
            let whole_mib = per_part.div_ceil(MIB).saturating_mul(MIB);
            whole_mib.clamp(MIN_CHUNK_SIZE, MAX_CHUNK_SIZE)
        }
    };
    // Only a 32-bit target cannot hold 5 GiB; OpenDAL caps parts there anyway.
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// How many parts an object of `size` bytes takes with parts of `chunk` bytes (at least one).
pub fn part_count(size: u64, chunk: usize) -> u64 {
    size.div_ceil(chunk as u64).max(1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const GIB: u64 = 1024 * MIB;
    const TIB: u64 = 1024 * GIB;

    #[test]
    fn no_hint_is_16_mib() {
        assert_eq!(chunk_size(None) as u64, 16 * MIB);
        assert_eq!(MAX_OBJECT_SIZE_WITHOUT_HINT, 160_000 * MIB);
    }

    #[test]
    fn small_hints_get_the_minimum() {
        for hint in [0, 1, 1024, 8 * MIB, 20 * MIB, 10 * GIB, 35 * GIB] {
            assert_eq!(chunk_size(Some(hint)) as u64, MIN_CHUNK_SIZE, "hint {hint}");
        }
    }

    #[test]
    fn large_hints_scale_and_round_to_a_mib() {
        // 2 × 100 GiB / 9000 = 22.8 MiB → 23 MiB.
        assert_eq!(chunk_size(Some(100 * GIB)) as u64, 23 * MIB);
        // 2 × 5 TiB / 9000 = 1165.1 MiB → 1166 MiB.
        assert_eq!(chunk_size(Some(5 * TIB)) as u64, 1166 * MIB);
        // Just above the minimum's reach: 8 MiB × 9000 / 2 = 36,000 MiB.
        assert_eq!(chunk_size(Some(36_000 * MIB)) as u64, 8 * MIB);
        assert_eq!(chunk_size(Some(36_000 * MIB + 1)) as u64, 9 * MIB);
    }

    #[test]
    fn huge_hints_are_capped_at_5_gib() {
        assert_eq!(chunk_size(Some(100 * TIB)) as u64, MAX_CHUNK_SIZE);
        assert_eq!(chunk_size(Some(u64::MAX)) as u64, MAX_CHUNK_SIZE);
    }

    #[test]
    fn part_count_rounds_up() {
        assert_eq!(part_count(0, 8), 1);
        assert_eq!(part_count(8, 8), 1);
        assert_eq!(part_count(9, 8), 2);
        assert_eq!(part_count(20 * MIB, chunk_size(Some(20 * MIB))), 3);
    }

    proptest! {
        #[test]
        fn twice_the_hint_fits_in_10000_parts(
            hint in 0u64..=20 * TIB,
            fraction in 0.0f64..=2.0,
        ) {
            let chunk = chunk_size(Some(hint));
            let size = ((hint as f64) * fraction) as u64;
            let size = size.min(hint.saturating_mul(2));
            prop_assert!(part_count(size, chunk) <= MAX_PARTS);
            prop_assert!(part_count(hint.saturating_mul(2), chunk) <= TARGET_PARTS);
            prop_assert!(chunk as u64 >= MIN_CHUNK_SIZE);
            prop_assert!(chunk as u64 <= MAX_CHUNK_SIZE);
            prop_assert_eq!(chunk as u64 % MIB, 0);
        }

        #[test]
        fn chunk_size_grows_with_the_hint(a in 0u64..=100 * TIB, b in 0u64..=100 * TIB) {
            let (small, large) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(chunk_size(Some(small)) <= chunk_size(Some(large)));
        }
    }
}
