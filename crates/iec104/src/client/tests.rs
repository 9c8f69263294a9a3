//! Client tests against scripted peers on 127.0.0.1.
