//! Navigation without reloads, in the browser.
//!
//! Pages are rendered on the server and only their islands run in the browser. Once the WASM
//! has loaded, same-origin link clicks, form submissions (GET and POST) and back/forward are
//! fetched here instead of loaded by the browser: the new document's `<body>` replaces the
//! old one, the title follows, the history entry is pushed, and the new page's islands are
//! hydrated. A form post is the same request the browser would send without JavaScript (the
//! server function answers with a redirect, which `fetch` follows), so each action has one
//! server path. Anything unexpected (another content type, a network error) falls back to
//! the browser's own navigation.
//!
//! Leptos's islands router patches the old DOM by diffing it against the new one, which loses
//! rows added to server-rendered lists; replacing the body is simpler and always right.

use std::cell::Cell;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

thread_local! {
    /// Bumped by every page change; islands of an older page stop what they started.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// The current page's generation (see [`GENERATION`]).
pub fn generation() -> u64 {
    GENERATION.with(Cell::get)
}

/// Paths served by something other than a page (the browser fetches those itself).
const NOT_PAGES: [&str; 6] = ["/api/", "/pkg/", "/mcp", "/metrics", "/health", "/ready"];

/// Starts intercepting links, forms and history (once per document load).
pub fn install() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(document) = window.document() else {
        return;
    };
    let on_click = Closure::<dyn FnMut(web_sys::MouseEvent)>::new(on_click);
    let on_submit = Closure::<dyn FnMut(web_sys::SubmitEvent)>::new(on_submit);
    let on_popstate = Closure::<dyn FnMut(web_sys::PopStateEvent)>::new(|_| {
        if let Some(href) = web_sys::window().and_then(|w| w.location().href().ok()) {
            wasm_bindgen_futures::spawn_local(go(Visit::get(href), History::Keep));
        }
    });
    let _ = document.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    let _ = document.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref());
    let _ =
        window.add_event_listener_with_callback("popstate", on_popstate.as_ref().unchecked_ref());
    // They live as long as the document.
    on_click.forget();
    on_submit.forget();
    on_popstate.forget();
}

fn same_origin(url: &web_sys::Url) -> bool {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .is_some_and(|o| o == url.origin())
}

fn same_origin_page(url: &web_sys::Url) -> bool {
    same_origin(url) && !NOT_PAGES.iter().any(|p| url.pathname().starts_with(p))
}

fn on_click(ev: web_sys::MouseEvent) {
    if ev.default_prevented()
        || ev.button() != 0
        || ev.meta_key()
        || ev.ctrl_key()
        || ev.shift_key()
        || ev.alt_key()
    {
        return;
    }
    let Some(anchor) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.closest("a[href]").ok().flatten())
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    else {
        return;
    };
    let rel = anchor.rel();
    if !anchor.target().is_empty()
        || anchor.has_attribute("download")
        || rel.split_whitespace().any(|r| r == "external")
    {
        return;
    }
    let Ok(url) = web_sys::Url::new(&anchor.href()) else {
        return;
    };
    if !same_origin_page(&url) {
        return;
    }
    // A link to a fragment of this very page: the browser scrolls.
    let here = web_sys::window().and_then(|w| w.location().href().ok());
    if !url.hash().is_empty()
        && here
            .as_deref()
            .is_some_and(|h| without_hash(h) == without_hash(&url.href()))
    {
        return;
    }
    ev.prevent_default();
    wasm_bindgen_futures::spawn_local(go(Visit::get(url.href()), History::Push));
}

fn on_submit(ev: web_sys::SubmitEvent) {
    if ev.default_prevented() {
        return;
    }
    let Some(form) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
    else {
        return;
    };
    if !form.target().is_empty() || form.enctype() == "multipart/form-data" {
        return;
    }
    let Ok(url) = web_sys::Url::new(&form.action()) else {
        return;
    };
    if !same_origin(&url) {
        return;
    }
    let Ok(data) = web_sys::FormData::new_with_form(&form) else {
        return;
    };
    // The button that submitted counts, as in a browser's own submission.
    if let Some(button) = ev.submitter() {
        let name = button.get_attribute("name").unwrap_or_default();
        if !name.is_empty() {
            let value = button.get_attribute("value").unwrap_or_default();
            let _ = data.append_with_str(&name, &value);
        }
    }
    let Ok(params) = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data) else {
        return;
    };
    ev.prevent_default();
    let visit = if form.method().eq_ignore_ascii_case("post") {
        Visit {
            url: url.href(),
            post: Some((params, form)),
        }
    } else {
        url.set_search(&String::from(params.to_string()));
        Visit::get(url.href())
    };
    wasm_bindgen_futures::spawn_local(go(visit, History::Push));
}

/// A page to fetch: a GET of `url`, or a form's POST to it.
struct Visit {
    url: String,
    post: Option<(web_sys::UrlSearchParams, web_sys::HtmlFormElement)>,
}

impl Visit {
    fn get(url: String) -> Self {
        Self { url, post: None }
    }

    /// The browser's own navigation, when fetching did not work out.
    fn fall_back(self) {
        match self.post {
            Some((_, form)) => {
                // `submit()` fires no submit event, so this is not intercepted again.
                let _ = form.submit();
            }
            None => {
                if let Some(w) = web_sys::window() {
                    let _ = w.location().assign(&self.url);
                }
            }
        }
    }
}

enum History {
    Push,
    Keep,
}

fn without_hash(url: &str) -> &str {
    url.split('#').next().unwrap_or(url)
}

thread_local! {
    static NAVIGATION: Cell<u64> = const { Cell::new(0) };
}

async fn go(visit: Visit, history: History) {
    let nav = NAVIGATION.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let post = visit.post.as_ref().map(|(params, _)| params);
    let Some((final_url, page)) = fetch_page(&visit.url, post).await else {
        visit.fall_back();
        return;
    };
    // A later navigation won.
    if NAVIGATION.with(Cell::get) != nav {
        return;
    }
    if show(&final_url, &page, history).is_none() {
        visit.fall_back();
    }
}

/// Fetches the page at `url` (a GET, or a form's POST of `post`) and parses it: `(final url,
/// document)`, or `None` when the answer is not an HTML page.
pub(crate) async fn fetch_page(
    url: &str,
    post: Option<&web_sys::UrlSearchParams>,
) -> Option<(String, web_sys::Document)> {
    let window = web_sys::window()?;
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().ok()?;
    headers.set("Accept", "text/html").ok()?;
    init.set_headers(&headers);
    if let Some(params) = post {
        init.set_method("POST");
        init.set_body(params.as_ref());
    }
    let resp = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .ok()?
        .dyn_into::<web_sys::Response>()
        .ok()?;
    let html = resp
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.starts_with("text/html"));
    if !html {
        return None;
    }
    let text = JsFuture::from(resp.text().ok()?).await.ok()?.as_string()?;
    let page = web_sys::DomParser::new()
        .ok()?
        .parse_from_string(&text, web_sys::SupportedType::TextHtml)
        .ok()?;
    Some((resp.url(), page))
}

/// Puts the fetched page in place of the current one.
fn show(final_url: &str, parsed: &web_sys::Document, history: History) -> Option<()> {
    let window = web_sys::window()?;
    let document = window.document()?;
    let body = parsed.body()?;
    let current = window.location().href().ok()?;
    let same_page = without_hash(&current) == without_hash(final_url);
    let focused = document
        .active_element()
        .map(|e| e.id())
        .filter(|id| !id.is_empty());

    GENERATION.with(|g| g.set(g.get() + 1));
    document.set_title(&parsed.title());
    document.body()?.set_inner_html(&body.inner_html());
    if let History::Push = history {
        let h = window.history().ok()?;
        let _ = if same_page {
            h.replace_state_with_url(&JsValue::NULL, "", Some(final_url))
        } else {
            h.push_state_with_url(&JsValue::NULL, "", Some(final_url))
        };
    }
    hydrate_islands(&window, &document);
    // A form that posted back to its own page keeps its place and focus; a new page starts at
    // its top (or at the linked fragment).
    if same_page {
        if let Some(el) = focused
            .and_then(|id| document.get_element_by_id(&id))
            .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    } else {
        let hash = web_sys::Url::new(final_url)
            .map(|u| u.hash())
            .unwrap_or_default();
        match document.get_element_by_id(hash.trim_start_matches('#')) {
            Some(target) if !hash.is_empty() => target.scroll_into_view(),
            _ => window.scroll_to_with_x_and_y(0.0, 0.0),
        }
    }
    Some(())
}

/// Hydrates the islands of the new body through the function Leptos's island script left on
/// `window`.
fn hydrate_islands(window: &web_sys::Window, document: &web_sys::Document) {
    let Ok(hydrate) = js_sys::Reflect::get(window, &JsValue::from_str("__hydrateIsland")) else {
        return;
    };
    let Ok(hydrate) = hydrate.dyn_into::<js_sys::Function>() else {
        return;
    };
    let Ok(islands) = document.query_selector_all("leptos-island") else {
        return;
    };
    for i in 0..islands.length() {
        let Some(el) = islands
            .item(i)
            .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        else {
            continue;
        };
        // Nested islands are hydrated by their outer island.
        if el
            .parent_element()
            .and_then(|p| p.closest("leptos-island").ok().flatten())
            .is_some()
        {
            continue;
        }
        let id = el.dataset().get("component").unwrap_or_default();
        let _ = hydrate.call2(&JsValue::NULL, &el, &JsValue::from_str(&id));
    }
}
