//! One kept-alive HTTP/1.1 connection, one request at a time: the load
//! generator's connections are closed loops, like a pool of client threads.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, CONTENT_TYPE, COOKIE, HOST};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Connection {
    /// `base_url` is `http://host:port`.
    pub async fn open(base_url: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(base_url)?;
        let host = url.host_str().context("base_url has no host")?.to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            host: HeaderValue::from_str(&format!("{host}:{port}"))?,
        })
    }

    pub async fn post_form(&mut self, path: &str, form: String) -> anyhow::Result<Answer> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))?;
        self.send(request).await
    }

    pub async fn get(&mut self, path: &str, cookie: Option<&str>) -> anyhow::Result<Answer> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(cookie) = cookie.filter(|c| !c.is_empty()) {
            request = request.header(COOKIE, cookie);
        }
        self.send(request.body(Full::new(Bytes::new()))?).await
    }

    /// A JSON request (Management API), with a bearer token when given.
    pub async fn json(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<Answer> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(bearer) = bearer {
            request = request.header("authorization", format!("Bearer {bearer}"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.send(request.body(Full::new(Bytes::from(body)))?).await
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Answer> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}
