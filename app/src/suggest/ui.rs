//! The AI suggestion card of an error's page.

use super::{SuggestFix, Suggestion, SuggestionState, load_suggestion};
use crate::error::AppError;
use crate::ui::widgets::Time;
use crate::ui::{ErrorNote, FormError};
use leptos::prelude::*;

/// The card's data and its action, created at the top of the group page.
#[derive(Clone, Copy)]
pub struct SuggestCard {
    pub state: Resource<Result<SuggestionState, AppError>>,
    pub ask: ServerAction<SuggestFix>,
}

impl SuggestCard {
    pub fn new(id: Memo<Option<i64>>) -> Self {
        let ask = ServerAction::<SuggestFix>::new();
        let state = Resource::new(
            move || id.get(),
            |id| async move {
                match id {
                    Some(id) => load_suggestion(id).await,
                    None => Err(AppError::not_found("error")),
                }
            },
        );
        Self { state, ask }
    }
}

#[component]
pub fn SuggestionCard(group: i64, card: SuggestCard) -> impl IntoView {
    let SuggestCard { state, ask } = card;
    let error = Signal::derive(move || ask.value().get().and_then(|r| r.err()));
    view! {
        <section class="card" aria-labelledby="suggest-h" id="ai-suggestion">
            <h2 id="suggest-h">"AI suggestion"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match state.await {
                        Ok(s) => view! { <SuggestionView group s ask/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            <FormError error/>
        </section>
    }
}

#[component]
fn SuggestionView(group: i64, s: SuggestionState, ask: ServerAction<SuggestFix>) -> impl IntoView {
    if !s.enabled && s.suggestion.is_none() {
        return view! {
            <p class="muted" id="ai-off">"AI suggestions are off. To ask an AI model how to fix an error, start the server with "
                <code>"ANTHROPIC_API_KEY"</code>" set (and "<code>"FAULTLINE_AI_BASE_URL"</code>
                " for a compatible endpoint). Suggestions are only shown, never run."</p>
        }
        .into_any();
    }
    let now = s.now;
    match s.suggestion {
        Some(Suggestion {
            text,
            model,
            cached,
            created_at,
            created_by,
            tokens,
            has_playbook,
        }) => view! {
            <p class="muted small">{format!("{model} · asked by {created_by} · ")}<Time at=created_at now/>
                {format!(" · {tokens} tokens{}", if cached { " · kept for every error like this one" } else { "" })}</p>
            <pre class="suggestion" id="suggestion-text">{text}</pre>
            <p class="small">
                <a href=format!("/playbooks?from_suggestion={group}#editor") id="suggestion-playbook">
                    {if has_playbook { "Create a playbook from this suggestion" } else { "Write a playbook from this suggestion" }}
                </a>
                <span class="muted">" — a draft to review: manual and disabled until you turn it on."</span>
            </p>
        }
        .into_any(),
        None if s.can_ask => view! {
            <p class="muted small">"Asks the configured AI model about this error (its type, message and stack trace, already scrubbed of secrets). The answer is shown here and kept for errors like this one; nothing runs by itself."</p>
            <ActionForm action=ask attr:id="suggest-form">
                <input type="hidden" name="group" value=group.to_string()/>
                <button type="submit" class="button secondary" id="suggest-fix">"Suggest a fix"</button>
            </ActionForm>
        }
        .into_any(),
        None => view! { <p class="muted">"No suggestion yet; members can ask for one."</p> }.into_any(),
    }
}
