//! A thin WebDriver client for headless Debian Chromium: starts `chromedriver`, opens one
//! browser session at 1366 px wide, and offers the few commands the dashboard tests use.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::{json, Value};

use super::http::{request, Response};
use super::{free_port, wait_for};

/// The WebDriver element key (W3C).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian installs the browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A browser session; the driver and the browser stop when it is dropped.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or says why the test skips and gives
    /// None when they are not installed.
    pub fn start() -> Option<Self> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            eprintln!(
                "SKIP: chromium and chromium-driver are not installed (run scripts/setup-test-peers)"
            );
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for("chromedriver ready", || {
            std::net::TcpStream::connect(addr).ok()?;
            let status = request(addr, "GET", "/status", &[], b"");
            (status.status == 200 && status.json()["value"]["ready"] == json!(true)).then_some(())
        });
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    // Root in a container: no sandbox; no GPU; a laptop-sized window.
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1366,900",
                             "--hide-scrollbars", "--font-render-hinting=none"]
                }
            }}
        });
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
        };
        let answer = browser.call("POST", "/session", &capabilities);
        browser.session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Some(browser)
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let text = body.to_string();
        let response: Response = request(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            if method == "GET" {
                b""
            } else {
                text.as_bytes()
            },
        );
        let value = response.json();
        assert_eq!(
            response.status, 200,
            "WebDriver {method} {path} failed: {value}"
        );
        value
    }

    fn session_call(&self, method: &str, path: &str, body: &Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body)["value"].clone()
    }

    /// Loads `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", &json!({ "url": url }));
    }

    /// The page's URL now.
    pub fn url(&self) -> String {
        self.session_call("GET", "/url", &json!({}))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element matching CSS `selector`; fails the test when there is none.
    pub fn find(&self, selector: &str) -> String {
        let found = self.session_call(
            "POST",
            "/element",
            &json!({ "using": "css selector", "value": selector }),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {selector}: {found}"))
            .to_owned()
    }

    /// Every element matching CSS `selector`.
    pub fn find_all(&self, selector: &str) -> Vec<String> {
        let found = self.session_call(
            "POST",
            "/elements",
            &json!({ "using": "css selector", "value": selector }),
        );
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Clicks the element.
    pub fn click(&self, element: &str) {
        self.session_call("POST", &format!("/element/{element}/click"), &json!({}));
    }

    /// Clicks the element (a form's button) and waits until the page it leads to has loaded:
    /// the click may return before the old page is gone.
    pub fn submit(&self, element: &str) {
        self.execute("window.envoiOldPage = true; return null");
        self.click(element);
        wait_for("the next page", || {
            let path = format!("/session/{}/execute/sync", self.session);
            let script = json!({ "script": "return window.envoiOldPage === undefined && document.readyState === 'complete'", "args": [] });
            let answer = request(
                self.addr,
                "POST",
                &path,
                &[("Content-Type", "application/json")],
                script.to_string().as_bytes(),
            );
            (answer.status == 200 && answer.json()["value"] == json!(true)).then_some(())
        });
    }

    /// Types `text` into the element.
    pub fn type_text(&self, element: &str, text: &str) {
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            &json!({ "text": text }),
        );
    }

    /// The element's rendered text.
    pub fn text(&self, element: &str) -> String {
        self.session_call("GET", &format!("/element/{element}/text"), &json!({}))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The text of the element matching `selector`.
    pub fn text_of(&self, selector: &str) -> String {
        self.text(&self.find(selector))
    }

    /// Runs `script` in the page; its return value.
    pub fn execute(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            &json!({ "script": script, "args": [] }),
        )
    }

    /// Saves a PNG of the whole page (the window grown to the page's height) at `path`.
    pub fn screenshot(&self, path: &Path) {
        let height = self
            .execute("return document.documentElement.scrollHeight")
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 4000);
        self.session_call(
            "POST",
            "/window/rect",
            &json!({ "width": 1366, "height": height + 120 }),
        );
        let png = self.session_call("GET", "/screenshot", &json!({}));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        self.session_call(
            "POST",
            "/window/rect",
            &json!({ "width": 1366, "height": 900 }),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = request(self.addr, "DELETE", &path, &[], b"");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
