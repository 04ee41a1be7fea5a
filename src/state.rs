//! The application state: the services every handler may use, built once at
//! start and shared by reference.

use std::sync::Arc;

use crate::{
    config::{Settings, secret::SecretKey},
    store::Store,
};

#[derive(Clone, Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    /// The server secret, from which signing and session keys are derived.
    pub secret: Arc<SecretKey>,
}
