//! Settings → Alerts: the rules (add, turn on and off, delete, send a test) and the delivery
//! log. Plain forms, so everything works before hydration.

use super::{
    AlertRule, AlertSettings, ChangeAlertRule, CreateAlertRule, Delivery, KINDS, TestAlertRule,
    load_alerts,
};
use crate::ui::widgets::{Time, css_token};
use crate::ui::{ErrorNote, FormError};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// The section's data and actions, created at the top of the page.
#[derive(Clone, Copy)]
pub struct AlertsState {
    create: ServerAction<CreateAlertRule>,
    change: ServerAction<ChangeAlertRule>,
    test: ServerAction<TestAlertRule>,
    alerts: Resource<Result<AlertSettings, crate::AppError>>,
}

impl AlertsState {
    pub fn load() -> Self {
        let create = ServerAction::<CreateAlertRule>::new();
        let change = ServerAction::<ChangeAlertRule>::new();
        let test = ServerAction::<TestAlertRule>::new();
        let alerts = Resource::new(|| (), |_| load_alerts());
        Self {
            create,
            change,
            test,
            alerts,
        }
    }
}

/// Settings → Alerts.
#[component]
pub fn AlertsSection(state: AlertsState) -> impl IntoView {
    let AlertsState {
        create,
        change,
        test,
        alerts,
    } = state;
    let row_error = Signal::derive(move || {
        change
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| test.value().get().and_then(|r| r.err()))
    });
    view! {
        <section class="card" aria-labelledby="alerts-title" id="alerts">
            <h2 id="alerts-title">"Alerts"</h2>
            <p class="muted small">"Hear about new errors, regressions, bursts, failed fixes and silent agents through a webhook (JSON, see docs/API.md) or a Slack incoming webhook. A rule sends at most once per its throttle period; failed deliveries are retried with growing pauses."</p>
            <FormError error=row_error/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match alerts.await {
                        Ok(a) => view! { <AlertsView a create change test/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("unknown", |(_, l)| l)
}

fn when(r: &AlertRule) -> String {
    let mut s = match r.kind.as_str() {
        "rate" => format!(
            "more than {} events in {} min per {}",
            r.threshold, r.window_minutes, r.per
        ),
        "agent_offline" => format!("an agent offline for {} min", r.threshold),
        k => kind_label(k).to_owned(),
    };
    for (label, v) in [
        ("severity ≥ ", &r.min_severity),
        ("service ", &r.service),
        ("environment ", &r.environment),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(" · {label}{v}"));
        }
    }
    s
}

#[component]
fn AlertsView(
    a: AlertSettings,
    create: ServerAction<CreateAlertRule>,
    change: ServerAction<ChangeAlertRule>,
    test: ServerAction<TestAlertRule>,
) -> impl IntoView {
    let AlertSettings {
        rules,
        deliveries,
        can_edit,
        now,
    } = a;
    view! {
        {if rules.is_empty() {
            view! { <p class="muted" id="no-alert-rules">"No alert rules yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                <table class="data" id="alert-rules">
                    <thead><tr>
                        <th scope="col">"Rule"</th><th scope="col">"When"</th><th scope="col">"Sent to"</th>
                        <th scope="col">"Throttle"</th><th scope="col">"Last sent"</th><th scope="col">"State"</th>
                    </tr></thead>
                    <tbody>
                        {rules.into_iter().map(|r| view! { <RuleRow r now can_edit change test/> }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        }}
        {can_edit.then(|| view! { <RuleForm create/> })}
        <h3>"Delivery log"</h3>
        <DeliveryLog deliveries now/>
    }
}

#[component]
fn RuleRow(
    r: AlertRule,
    now: DateTime<Utc>,
    can_edit: bool,
    change: ServerAction<ChangeAlertRule>,
    test: ServerAction<TestAlertRule>,
) -> impl IntoView {
    let rid = r.id;
    let toggle = if r.enabled { "disable" } else { "enable" };
    view! {
        <tr data-rule=rid.to_string()>
            <td><strong>{r.name.clone()}</strong></td>
            <td class="small">{when(&r)}</td>
            <td class="small">{if r.channel == "slack" { "Slack" } else { "webhook" }}" "<code class="url">{r.url.clone()}</code></td>
            <td class="small">{format!("{} s", r.throttle_secs)}</td>
            <td class="small">{r.last_fired_at.map_or_else(|| view! { "never" }.into_any(), |t| view! { <Time at=t now/> }.into_any())}</td>
            <td class="small">
                <span class=if r.enabled { "badge badge-accent" } else { "badge" }>{if r.enabled { "on" } else { "off" }}</span>
                {can_edit.then(|| view! {
                    <div class="row-actions">
                        <ActionForm action=test>
                            <input type="hidden" name="id" value=rid.to_string()/>
                            <button type="submit" class="button small secondary">"Send test"</button>
                        </ActionForm>
                        <ActionForm action=change>
                            <input type="hidden" name="id" value=rid.to_string()/>
                            <input type="hidden" name="action" value=toggle/>
                            <button type="submit" class="button small">{if r.enabled { "Turn off" } else { "Turn on" }}</button>
                        </ActionForm>
                        <ActionForm action=change>
                            <input type="hidden" name="id" value=rid.to_string()/>
                            <input type="hidden" name="action" value="delete"/>
                            <button type="submit" class="button small danger">"Delete"</button>
                        </ActionForm>
                    </div>
                })}
            </td>
        </tr>
    }
}

#[component]
fn RuleForm(create: ServerAction<CreateAlertRule>) -> impl IntoView {
    let error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    view! {
        <details class="add-rule">
            <summary>"Add an alert rule"</summary>
            {move || error.get().map(|e| view! {
                <div class="notice notice-error" role="alert" id="alert-form-errors">
                    <ul>{e.message().split("; ").map(|m| view! { <li>{m.to_owned()}</li> }).collect_view()}</ul>
                </div>
            })}
            <ActionForm action=create attr:class="form-grid" attr:id="alert-rule-form" attr:novalidate=true>
                <label for="ar-name">"Name"</label>
                <input id="ar-name" name="rule[name]" maxlength="200"/>
                <label for="ar-kind">"When"</label>
                <select id="ar-kind" name="rule[kind]">
                    {KINDS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
                <label for="ar-threshold">"N (events, or minutes offline)"</label>
                <input id="ar-threshold" name="rule[threshold]" inputmode="numeric" class="short"/>
                <label for="ar-window">"M (minutes, for bursts)"</label>
                <input id="ar-window" name="rule[window_minutes]" inputmode="numeric" class="short" placeholder="5"/>
                <label for="ar-per">"Count bursts per"</label>
                <select id="ar-per" name="rule[per]">
                    <option value="group">"error group"</option>
                    <option value="service">"service"</option>
                </select>
                <label for="ar-severity">"Severity at least"</label>
                <select id="ar-severity" name="rule[min_severity]">
                    <option value="">"any"</option>
                    {["info", "warning", "error", "critical"].into_iter().map(|s| view! { <option value=s>{s}</option> }).collect_view()}
                </select>
                <label for="ar-service">"Only service"</label>
                <input id="ar-service" name="rule[service]" placeholder="any"/>
                <label for="ar-environment">"Only environment"</label>
                <input id="ar-environment" name="rule[environment]" placeholder="any"/>
                <label for="ar-channel">"Send to"</label>
                <select id="ar-channel" name="rule[channel]">
                    <option value="webhook">"a webhook (JSON)"</option>
                    <option value="slack">"a Slack incoming webhook"</option>
                </select>
                <label for="ar-url">"URL"</label>
                <input id="ar-url" name="rule[url]" placeholder="https://hooks.slack.com/services/…"/>
                <label for="ar-throttle">"At most once per (s)"</label>
                <input id="ar-throttle" name="rule[throttle_secs]" inputmode="numeric" class="short" placeholder="300"/>
                <span></span>
                <div><button type="submit" class="button primary">"Add rule"</button></div>
            </ActionForm>
        </details>
    }
}

#[component]
fn DeliveryLog(deliveries: Vec<Delivery>, now: DateTime<Utc>) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="muted" id="no-deliveries">"Nothing sent yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
        <table class="data" id="alert-deliveries">
            <thead><tr>
                <th scope="col">"When"</th><th scope="col">"Rule"</th><th scope="col">"Alert"</th>
                <th scope="col">"Status"</th><th scope="col">"Attempts"</th>
            </tr></thead>
            <tbody>
                {deliveries.into_iter().map(|d| {
                    let status = match d.status.as_str() {
                        "pending" if d.attempts > 0 => "retrying".to_owned(),
                        s => s.to_owned(),
                    };
                    view! {
                        <tr data-status=d.status.clone()>
                            <td class="small"><Time at=d.created_at now/></td>
                            <td class="small">{d.rule_name}</td>
                            <td class="small">{d.summary}</td>
                            <td class="small"><span class=format!("status status-{}", css_token(&d.status))>{status}</span>
                                {d.last_error.map(|e| view! { <div class="muted">{e}</div> })}</td>
                            <td class="small">{d.attempts}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}
