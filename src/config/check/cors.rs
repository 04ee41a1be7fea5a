//! CORS: exact origins, and no `*` where browsers read it literally or
//! where it would let every site call with the user's credentials.

use super::Finding;
use crate::config::{AllowedOrigin, CorsSettings};

pub(super) fn findings(cors: &CorsSettings, production: bool) -> Vec<Finding> {
    let mut found = Vec::new();
    let any_origin = cors.allow_origins.contains(&AllowedOrigin::Any);
    if any_origin && cors.allow_credentials {
        found.push(
            Finding::error(
                "cors.allow_origins",
                "`*` cannot be combined with allow_credentials: list the exact origins",
            )
            .everywhere(),
        );
    } else if any_origin && production {
        found.push(Finding::error(
            "cors.allow_origins",
            "`*` lets every web site call the API in production: list the exact origins",
        ));
    } else if any_origin {
        found.push(Finding::warning(
            "cors.allow_origins",
            "`*` lets every web site call the API",
        ));
    }
    if cors.allow_credentials {
        let star_header = cors.allow_headers.iter().any(|h| h.0.as_str() == "*");
        let star_method = cors.allow_methods.iter().any(|m| m.0.as_str() == "*");
        for (star, key) in [
            (star_header, "cors.allow_headers"),
            (star_method, "cors.allow_methods"),
        ] {
            if star {
                found.push(
                    Finding::error(
                        key,
                        "`*` is no wildcard when credentials are allowed (browsers read it literally): list the names",
                    )
                    .everywhere(),
                );
            }
        }
    }
    if production {
        for origin in &cors.allow_origins {
            if let AllowedOrigin::Exact(origin) = origin
                && origin.starts_with("http://")
            {
                found.push(Finding::warning(
                    "cors.allow_origins",
                    format!("{origin} is not HTTPS: its pages can be altered in transit"),
                ));
            }
        }
    }

    found
}
