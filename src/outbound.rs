//! The connector of every HTTP call rampart makes itself (to a gateway's
//! upstreams, to OpenID providers): TCP with a connect timeout, then TLS
//! by rustls with the system's roots for `https`, plain for `http`.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;

/// TCP, then TLS for `https` URIs.
pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A connector that gives up connecting after `connect_timeout`.
pub fn connector(connect_timeout: Duration) -> std::io::Result<Connector> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}
