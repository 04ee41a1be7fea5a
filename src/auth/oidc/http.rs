//! The HTTP client rampart speaks to OpenID providers with (discovery, the
//! key set, the token and userinfo endpoints): hyper's, on the connector
//! every outbound call uses (`outbound`). It follows no
//! redirect (the `openidconnect` crate's advice against SSRF), gives up
//! after 10 seconds, and reads at most 1 MiB of an answer.

use std::{future::Future, pin::Pin, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::outbound::Connector;

/// The longest a provider may take to answer one request.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer read.
const MAX_BODY: usize = 1 << 20;

/// Why a request to a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderHttpError {
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the request failed: {0}")]
    Request(String),
    #[error("the answer could not be read: {0}")]
    Body(String),
}

/// A pooled client for the providers.
#[derive(Clone, Debug)]
pub struct ProviderHttp {
    client: Client<Connector, Full<Bytes>>,
}

impl ProviderHttp {
    pub fn new() -> std::io::Result<Self> {
        let connector = crate::outbound::connector(Duration::from_secs(5))?;
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Sends one request and reads its answer.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, ProviderHttpError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| ProviderHttpError::Request(err.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|err| ProviderHttpError::Body(err.to_string()))?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body.to_vec()))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| ProviderHttpError::Timeout(TIMEOUT))?
    }
}

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = ProviderHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
