//! How a point's value moves: pure functions of the previous value, the time since the start
//! and a seeded random generator, so that a run with `--seed` is reproducible.

use serde::Deserialize;

/// The behaviour of one point (`behaviour = { kind = "sine", ... }` in a scenario).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Behaviour {
    /// Never changes by itself (only commands change it).
    #[default]
    Constant,
    /// Adds a uniform random step in −step..=step, kept within min..=max.
    RandomWalk {
        /// Largest step.
        step: f64,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// offset + amplitude · sin(2π t / period).
    Sine {
        /// Mean value.
        offset: f64,
        /// Amplitude.
        amplitude: f64,
        /// Period in seconds.
        period: f64,
    },
    /// offset + amplitude for the first half of each period, offset − amplitude after.
    Square {
        /// Mean value.
        offset: f64,
        /// Half the swing.
        amplitude: f64,
        /// Period in seconds.
        period: f64,
    },
    /// Rises linearly from min to max over each period, then starts again.
    Ramp {
        /// Start value.
        min: f64,
        /// End value.
        max: f64,
        /// Period in seconds.
        period: f64,
    },
    /// Flips the state: single points true/false, double points off/on.
    Toggle,
    /// Adds `increment` on every update (energy counters, bitstrings).
    Counter {
        /// Added per update.
        increment: f64,
    },
}

/// What kind of value a point holds, for [`Behaviour::next`] (toggling differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A single point: 0.0 or 1.0.
    Single,
    /// A double point: 1.0 (off) or 2.0 (on), 0/3 transient.
    Double,
    /// Anything numeric.
    Number,
}

impl Behaviour {
    /// The next value after `value`, at `t` seconds since the start.
    pub fn next(&self, value: f64, t: f64, kind: ValueKind, rng: &mut Rng) -> f64 {
        match *self {
            Behaviour::Constant => value,
            Behaviour::RandomWalk { step, min, max } => {
                let delta = (rng.next_f64() * 2.0 - 1.0) * step;
                let (lo, hi) = if min <= max { (min, max) } else { (max, min) };
                (value + delta).clamp(lo, hi)
            }
            Behaviour::Sine {
                offset,
                amplitude,
                period,
            } => offset + amplitude * (std::f64::consts::TAU * phase(t, period)).sin(),
            Behaviour::Square {
                offset,
                amplitude,
                period,
            } => {
                if phase(t, period) < 0.5 {
                    offset + amplitude
                } else {
                    offset - amplitude
                }
            }
            Behaviour::Ramp { min, max, period } => min + (max - min) * phase(t, period),
            Behaviour::Toggle => match kind {
                ValueKind::Single => {
                    if value != 0.0 {
                        0.0
                    } else {
                        1.0
                    }
                }
                ValueKind::Double => {
                    if value == 2.0 {
                        1.0
                    } else {
                        2.0
                    }
                }
                ValueKind::Number => -value,
            },
            Behaviour::Counter { increment } => value + increment,
        }
    }

    /// Whether the value can change without a command.
    pub fn is_active(&self) -> bool {
        !matches!(self, Behaviour::Constant)
    }
}

/// The fraction 0..1 of the period `t` is in (0 for a period that is not positive).
fn phase(t: f64, period: f64) -> f64 {
    if period > 0.0 && period.is_finite() {
        (t / period).rem_euclid(1.0)
    } else {
        0.0
    }
}

/// A small seeded generator (SplitMix64): the same seed gives the same sequence on every
/// platform. Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in 0.0..1.0.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform index in 0..n (0 for n = 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for a simulator.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // SplitMix64 with seed 0: the first outputs published with the algorithm
        // (Vigna, xoshiro reference splitmix64.c): 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn same_seed_same_walk_and_bounds_hold() {
        let walk = Behaviour::RandomWalk {
            step: 5.0,
            min: -10.0,
            max: 10.0,
        };
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut v = 0.0;
            let mut out = Vec::new();
            for i in 0..1000 {
                v = walk.next(v, f64::from(i), ValueKind::Number, &mut rng);
                assert!((-10.0..=10.0).contains(&v));
                out.push(v);
            }
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn periodic_shapes() {
        let mut rng = Rng::new(1);
        let sine = Behaviour::Sine {
            offset: 10.0,
            amplitude: 2.0,
            period: 4.0,
        };
        assert!((sine.next(0.0, 1.0, ValueKind::Number, &mut rng) - 12.0).abs() < 1e-9);
        assert!((sine.next(0.0, 3.0, ValueKind::Number, &mut rng) - 8.0).abs() < 1e-9);
        let square = Behaviour::Square {
            offset: 0.0,
            amplitude: 1.0,
            period: 2.0,
        };
        assert_eq!(square.next(0.0, 0.5, ValueKind::Number, &mut rng), 1.0);
        assert_eq!(square.next(0.0, 1.5, ValueKind::Number, &mut rng), -1.0);
        let ramp = Behaviour::Ramp {
            min: 0.0,
            max: 100.0,
            period: 10.0,
        };
        assert_eq!(ramp.next(0.0, 2.5, ValueKind::Number, &mut rng), 25.0);
        assert_eq!(ramp.next(0.0, 12.5, ValueKind::Number, &mut rng), 25.0);
    }

    #[test]
    fn toggle_and_counter() {
        let mut rng = Rng::new(1);
        let t = Behaviour::Toggle;
        assert_eq!(t.next(0.0, 0.0, ValueKind::Single, &mut rng), 1.0);
        assert_eq!(t.next(1.0, 0.0, ValueKind::Single, &mut rng), 0.0);
        assert_eq!(t.next(1.0, 0.0, ValueKind::Double, &mut rng), 2.0);
        assert_eq!(t.next(2.0, 0.0, ValueKind::Double, &mut rng), 1.0);
        let c = Behaviour::Counter { increment: 3.0 };
        assert_eq!(c.next(4.0, 0.0, ValueKind::Number, &mut rng), 7.0);
    }
}
