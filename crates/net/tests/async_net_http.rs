//! hyper serves HTTP/1.1 over sockstack's async TcpStream: a hyper client on
//! the peer stack (keep-alive, several requests, a 4 MiB body each way) and
//! a raw request from a blocking sockstack::net::TcpStream.

mod std_net_common;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use sockstack::async_net::{TcpListener, TcpStream};
use std_net_common::{fill, pair, A};
use tokio::time::timeout;

const GUARD: Duration = Duration::from_secs(25);
const BIG: usize = 4 << 20;

fn big_body() -> Vec<u8> {
    let mut v = vec![0u8; BIG];
    fill(&mut 42, &mut v);
    v
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        Ok(r)
    };
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/hello") => reply(
            StatusCode::OK,
            Bytes::from_static(b"hello from sockstack\n"),
        ),
        (&Method::GET, "/big") => reply(StatusCode::OK, Bytes::from(big_body())),
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(b) => reply(StatusCode::OK, b.to_bytes()),
            Err(_) => reply(StatusCode::BAD_REQUEST, Bytes::new()),
        },
        _ => reply(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    }
}

/// Accept forever, one hyper connection task per client.
async fn serve(l: TcpListener) {
    loop {
        let Ok((s, _)) = l.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(handle);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .await;
        });
    }
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", A)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_client_and_server() {
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 80)).await.unwrap();
    let server = tokio::spawn(serve(l));
    let run = async {
        let c = TcpStream::connect_on(&b, (A, 80)).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(c))
            .await
            .unwrap();
        let conn = tokio::spawn(conn);

        // Several requests on one keep-alive connection.
        for _ in 0..3 {
            sender.ready().await.unwrap();
            let r = sender.send_request(get("/hello")).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let body = r.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"hello from sockstack\n");
        }
        sender.ready().await.unwrap();
        let r = sender.send_request(get("/missing")).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        r.into_body().collect().await.unwrap();

        sender.ready().await.unwrap();
        let r = sender.send_request(get("/big")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), BIG);
        assert_eq!(Sha256::digest(&body), Sha256::digest(big_body()));

        let mut upload = vec![0u8; BIG];
        fill(&mut 9, &mut upload);
        let req = Request::post("/echo")
            .header("host", A)
            .body(Full::new(Bytes::from(upload.clone())))
            .unwrap();
        sender.ready().await.unwrap();
        let r = sender.send_request(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(Sha256::digest(&body), Sha256::digest(&upload));

        drop(sender);
        conn.await.unwrap().unwrap();
    };
    timeout(GUARD, run).await.expect("HTTP exchange in time");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_request_from_blocking_peer() {
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 8080)).await.unwrap();
    let server = tokio::spawn(serve(l));
    let response = tokio::task::spawn_blocking(move || {
        let mut s = sockstack::net::TcpStream::connect_on(&b, (A, 8080)).unwrap();
        s.set_read_timeout(Some(GUARD)).unwrap();
        s.write_all(b"GET /hello HTTP/1.1\r\nHost: 198.18.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    let response = timeout(GUARD, response).await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-length: 21\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with("\r\n\r\nhello from sockstack\n"),
        "{response}"
    );
    server.abort();
}
