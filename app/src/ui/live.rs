//! The islands: the only components compiled into the browser's WASM.
//!
//! Every page is rendered on the server. Links and forms work as plain HTML; once the WASM
//! has loaded, [`crate::ui::navigate`] fetches the next page (or a form's redirect) and puts it
//! in place, so nothing reloads. The few things that need code in the browser are
//! here: following the live feed, polling a region while fix runs move, and ticking groups for
//! a bulk action. A region they refresh is re-read from the server as HTML (the same render a
//! reload would give) and must hold no island itself.

use leptos::prelude::*;

/// Follows `/api/stream` for the error feed rendered in the element `region`. When the reader
/// looks at the unfiltered first page from its top and has nothing ticked, the region is
/// refreshed (at most once a second); otherwise the changes are counted and offered with a
/// "N updates — show" button.
#[island]
pub fn LiveFeed(region: String) -> impl IntoView {
    let pending = RwSignal::new(0usize);
    #[cfg(feature = "hydrate")]
    browser::follow_stream(region.clone(), pending);
    let show = move |_| {
        pending.set(0);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::refresh(region.clone()));
        #[cfg(not(feature = "hydrate"))]
        let _ = &region;
    };
    view! {
        <div class="live-bar" aria-live="polite">
            {move || (pending.get() > 0).then(|| {
                let n = pending.get();
                view! {
                    <button type="button" class="button small" id="show-new" on:click=show.clone()>
                        {format!("{n} update{} — show", if n == 1 { "" } else { "s" })}
                    </button>
                }
            })}
        </div>
    }
}

/// Refreshes the element `region` every `every_ms` milliseconds for as long as it carries
/// `data-moving="true"` (the server sets it while a fix run it shows is unfinished). When the
/// movement stops, the element `settle` (the whole page, say) is refreshed once, since a
/// finished run changes more than its own card.
#[island]
pub fn Poll(
    region: String,
    every_ms: u32,
    #[prop(optional)] settle: Option<String>,
) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    browser::poll(region, every_ms, settle);
    #[cfg(not(feature = "hydrate"))]
    let _ = (region, every_ms, settle);
}

/// The bulk bar's selection: "Select all" ticks every row of the page, and the count in
/// `#bulk-count` follows the ticked rows (checkboxes named `ids[]`).
#[island]
pub fn BulkSelection() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    browser::follow_selection();
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use std::time::Duration;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    fn region_element(region: &str) -> Option<web_sys::Element> {
        document().get_element_by_id(region)
    }

    /// Whether the page this island was hydrated on is still shown (see
    /// [`crate::ui::navigate`]).
    fn still_shown(generation: u64) -> bool {
        crate::ui::navigate::generation() == generation
    }

    /// Replaces the element `region`'s content (and its `data-moving`) with the same element
    /// of the current URL as the server renders it now.
    pub async fn refresh(region: String) {
        let Some(old) = region_element(&region) else {
            return;
        };
        let Ok(href) = window().location().href() else {
            return;
        };
        let Some((_, page)) = crate::ui::navigate::fetch_page(&href, None).await else {
            return;
        };
        // An error page has no such region: the old content stays.
        let Some(new) = page.get_element_by_id(&region) else {
            return;
        };
        old.set_inner_html(&new.inner_html());
        match new.get_attribute("data-moving") {
            Some(v) => _ = old.set_attribute("data-moving", &v),
            None => _ = old.remove_attribute("data-moving"),
        }
    }

    /// A `groups` event's data (only how many groups changed matters here).
    #[derive(serde::Deserialize)]
    struct Changed {
        g: Vec<i64>,
    }

    fn default_feed() -> bool {
        let Ok(search) = window().location().search() else {
            return false;
        };
        let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
            return false;
        };
        let mut pairs = Vec::new();
        for entry in params.entries() {
            let Ok(entry) = entry else { return false };
            let entry: js_sys::Array = entry.unchecked_into();
            pairs.push((
                entry.get(0).as_string().unwrap_or_default(),
                entry.get(1).as_string().unwrap_or_default(),
            ));
        }
        crate::errors::ui::is_default_feed(pairs)
    }

    fn anything_ticked() -> bool {
        document()
            .query_selector("input[name='ids[]']:checked")
            .ok()
            .flatten()
            .is_some()
    }

    pub fn follow_stream(region: String, pending: RwSignal<usize>) {
        let generation = crate::ui::navigate::generation();
        let Ok(source) = web_sys::EventSource::new("/api/stream") else {
            return;
        };
        let scheduled = StoredValue::new(false);
        let closer = source.clone();
        let on_groups =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                // Navigated to another page: this feed is gone.
                if !still_shown(generation) {
                    closer.close();
                    return;
                }
                let changed = ev
                    .data()
                    .as_string()
                    .and_then(|d| serde_json::from_str::<Changed>(&d).ok())
                    .map_or(1, |c| c.g.len());
                let at_top = window().scroll_y().unwrap_or(0.0) < 80.0;
                if at_top && default_feed() && !anything_ticked() && pending.get_untracked() == 0 {
                    if !scheduled.get_value() {
                        scheduled.set_value(true);
                        let region = region.clone();
                        set_timeout(
                            move || {
                                scheduled.set_value(false);
                                leptos::task::spawn_local(refresh(region));
                            },
                            Duration::from_secs(1),
                        );
                    }
                } else {
                    pending.update(|n| *n += changed);
                }
            });
        let _ =
            source.add_event_listener_with_callback("groups", on_groups.as_ref().unchecked_ref());
        // Lives as long as the page: the stream is closed when its feed is gone.
        on_groups.forget();
    }

    pub fn poll(region: String, every_ms: u32, settle: Option<String>) {
        let generation = crate::ui::navigate::generation();
        let handle = StoredValue::new(None::<IntervalHandle>);
        let was_moving = StoredValue::new(false);
        let tick = move || {
            let shown = region_element(&region).filter(|_| still_shown(generation));
            let Some(el) = shown else {
                // Navigated to another page: stop.
                if let Some(h) = handle.get_value() {
                    h.clear();
                }
                return;
            };
            let moving = el.get_attribute("data-moving").as_deref() == Some("true");
            if moving {
                leptos::task::spawn_local(refresh(region.clone()));
            } else if was_moving.get_value()
                && let Some(settle) = settle.clone()
            {
                leptos::task::spawn_local(refresh(settle));
            }
            was_moving.set_value(moving);
        };
        if let Ok(h) = set_interval_with_handle(tick, Duration::from_millis(every_ms.into())) {
            handle.set_value(Some(h));
        }
    }

    fn rows() -> Vec<web_sys::HtmlInputElement> {
        let Ok(list) = document().query_selector_all("input[name='ids[]']") else {
            return Vec::new();
        };
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.dyn_into::<web_sys::HtmlInputElement>().ok())
            .collect()
    }

    pub fn follow_selection() {
        let on_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            let Some(target) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            else {
                return;
            };
            let rows = rows();
            if target.id() == "pick-all" {
                for r in &rows {
                    r.set_checked(target.checked());
                }
            } else if target.name() != "ids[]" {
                return;
            }
            let ticked = rows.iter().filter(|r| r.checked()).count();
            if let Some(all) = document()
                .get_element_by_id("pick-all")
                .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                all.set_checked(!rows.is_empty() && ticked == rows.len());
            }
            if let Some(count) = document().get_element_by_id("bulk-count") {
                count.set_text_content(Some(&super::super::selection_text(ticked)));
            }
        });
        let _ = document()
            .add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        on_change.forget();
    }
}
