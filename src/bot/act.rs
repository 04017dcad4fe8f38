//! What the bot does on GitHub for one issue: fetch it fresh, honour `/label off`, suggest,
//! decide by stage under the hourly cap, apply labels and write its one audit comment, all
//! through the push journal; `/label off` takes back only what sift applied.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use super::TriageArgs;
use super::decide::{self, Decision, Stage};
use super::event::Event;
use crate::app::Context;
use crate::github::audit::{self, BotAudit, CommentData};
use crate::github::client::{Client, RepoSlug};
use crate::github::commands::{self, CommandKind};
use crate::github::plan::{PlanEntry, PushMode, PushPlan, blockers};
use crate::github::{pull, push};
use crate::model::{Item, Suggestion, now_rfc3339};
use crate::suggest::{NoExamples, RunOptions, runner};

/// Login of the GitHub Actions token's comments (GET /user is closed to that token).
const ACTIONS_LOGIN: &str = "github-actions[bot]";

/// The bot for one invocation: the opened workspace, a GitHub client, the stage.
pub struct Bot<'a> {
    pub ctx: &'a mut Context,
    client: Client,
    rt: tokio::runtime::Runtime,
    stage: Stage,
    opts: RunOptions,
    login: Option<String>,
}

/// The suggestion the bot acts on, with who answered.
pub struct Answer {
    pub suggestion: Suggestion,
    pub provider: String,
    pub model: String,
    pub prompt_hash: String,
}

impl<'a> Bot<'a> {
    pub fn new(ctx: &'a mut Context, a: &TriageArgs, stage: Stage) -> Result<Self> {
        let api = a.api_url.clone().or_else(|| std::env::var("GITHUB_API_URL").ok());
        let mut client = crate::github::client_for(ctx, api.as_deref())?;
        // Retried once, then the job fails with one line: no spamming a struggling API.
        client.pacing.attempts = 2;
        let mut opts = RunOptions::from_settings(&ctx.ws.settings.suggest);
        opts.choose(a.provider.as_deref(), a.model.as_deref(), a.base_url.as_deref());
        use_committed_model(ctx, &mut opts, a.provider.is_some())?;
        opts.skip_done = false;
        opts.few_shot = 0;
        let login = std::env::var("SIFT_BOT_LOGIN").ok().filter(|l| !l.is_empty());
        Ok(Bot { ctx, client, rt: crate::github::runtime()?, stage, opts, login })
    }

    /// Act on one parsed event.
    pub fn handle(&mut self, ev: Event) -> Result<ExitCode> {
        match ev {
            Event::Nothing(why) => {
                outln!("{}", crate::text::one_line(&why));
                Ok(ExitCode::SUCCESS)
            }
            Event::Triage { repo, number, action } => {
                self.triage_one(&repo, number, false, &format!("issues.{action}"))
            }
            // Comments without a command, or from someone who may not give one, were turned
            // away before the bot was built (`super::needs_nothing`).
            Event::Comment { repo, number, comment, .. } => {
                match commands::parse_command(&comment.body) {
                    Some(CommandKind::Auto) => self.triage_one(&repo, number, true, "/label auto"),
                    Some(CommandKind::Off) => self.label_off(&repo, number),
                    None => Ok(ExitCode::SUCCESS),
                }
            }
        }
    }

    /// Fetch the issue fresh and store it; None for a pull request.
    fn fetch(&mut self, repo: &RepoSlug, number: i64) -> Result<Option<Item>> {
        let dataset = pull::dataset_for(&self.ctx.ws.settings, repo);
        let item = self
            .rt
            .block_on(pull::fetch_issue(&mut self.client, repo, number, &dataset))
            .with_context(|| format!("GitHub: fetching {}#{number}", repo.full()))?;
        if let Some(i) = &item {
            self.ctx.store.upsert_items(std::slice::from_ref(i), &now_rfc3339())?;
        }
        Ok(item)
    }

    fn my_login(&mut self) -> Result<String> {
        if let Some(l) = &self.login {
            return Ok(l.clone());
        }
        // A personal or App token says who it is; the Actions token may not ask (403), and
        // its comments are github-actions[bot]'s.
        let l = match self.rt.block_on(self.client.login()) {
            Ok(l) => l,
            Err(_) if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") => {
                ACTIONS_LOGIN.to_string()
            }
            Err(e) => return Err(anyhow::Error::from(e).context("GitHub: who am I (GET /user)")),
        };
        self.login = Some(l.clone());
        Ok(l)
    }

    /// Suggest, decide and act for one issue; `fresh` bypasses the cache (`/label auto`).
    pub fn triage_one(
        &mut self,
        repo: &str,
        number: i64,
        fresh: bool,
        why: &str,
    ) -> Result<ExitCode> {
        let repo = RepoSlug::parse(repo)?;
        let Some(item) = self.fetch(&repo, number)? else {
            outln!("{}#{number} is a pull request: nothing to do", repo.full());
            return Ok(ExitCode::SUCCESS);
        };
        let state = commands::command_state(item.author.as_deref(), &item.comments, None);
        if state.off && !fresh {
            outln!(
                "{}#{number}: sift is off on this issue (/label off): nothing to do",
                repo.full()
            );
            return Ok(ExitCode::SUCCESS);
        }
        self.ctx.store.set_issue_flags(&item.key, false, fresh)?;
        let answer = self.suggest(&item)?;
        let login = self.my_login()?;
        let capped = self.hourly_cap(&repo, &login)?;
        let tax = self.ctx.labels.get(self.ctx.ws.settings.taxonomy_for(&item.dataset))?.clone();
        let own = audit::own_block(&item.comments, &login);
        // Labels sift applied that are gone now were removed by a human: no longer sift's,
        // and not added again.
        let previous: Vec<String> = own
            .as_ref()
            .and_then(|(_, b)| b.data.bot.as_ref())
            .map(|b| b.applied.clone())
            .unwrap_or_default();
        let on_issue = |l: &String| item.source_labels.iter().any(|p| p.eq_ignore_ascii_case(l));
        let (mut applied, gone): (Vec<String>, Vec<String>) =
            previous.into_iter().partition(|l| on_issue(l));
        let mut d = decide::decide(&decide::Inputs {
            tax: &tax,
            stage: self.stage,
            labels: &answer.suggestion.labels,
            present: &item.source_labels,
            abstain_label: &self.ctx.ws.settings.bot.abstain_label,
            capped,
        });
        if !gone.is_empty() {
            d.add.retain(|l| !gone.contains(l));
            d.notes.push(format!(
                "a human removed {} after sift applied it: sift leaves it off",
                gone.join(", ")
            ));
        }
        let added = self.apply(&repo, &item, &tax, &d)?;
        for l in &added {
            if !applied.contains(l) {
                applied.push(l.clone());
            }
        }
        let audit = BotAudit {
            stage: d.stage.as_str().into(),
            provider: answer.provider.clone(),
            model: answer.model.clone(),
            prompt_hash: answer.prompt_hash.clone(),
            rationale: answer.suggestion.rationale.clone(),
            thresholds: d.thresholds.clone(),
            applied,
            decision: d.decision.into(),
            note: (!d.notes.is_empty()).then(|| d.notes.join("; ")),
        };
        let commented = self.comment(&repo, &item, &answer.suggestion, audit, own)?;
        let shown: Vec<String> = answer
            .suggestion
            .labels
            .iter()
            .map(|l| format!("{} {:.2}", l.name, l.confidence.unwrap_or(1.0)))
            .collect();
        outln!(
            "{}#{number} ({why}, stage {}): {} [{}]; added [{}]; comment {}",
            repo.full(),
            d.stage.as_str(),
            d.decision,
            shown.join(", "),
            added.join(", "),
            commented
        );
        Ok(ExitCode::SUCCESS)
    }

    /// One suggestion through the configured chain, recorded in the day's triage run.
    fn suggest(&mut self, item: &Item) -> Result<Answer> {
        let mut opts = self.opts.clone();
        opts.keys = Some(vec![item.key.clone()]);
        let base = format!("triage-{}", jiff::Timestamp::now().strftime("%Y-%m-%d"));
        opts.name = Some(base.clone());
        let ctx = &mut *self.ctx;
        let mut run = |o: &RunOptions| {
            self.rt.block_on(runner::run_suggestions(
                &ctx.ws,
                &ctx.labels,
                &mut ctx.store,
                o,
                &NoExamples,
                std::future::pending(),
            ))
        };
        let report = match run(&opts) {
            Err(runner::RunError::NameTaken { .. }) => {
                opts.name = Some(format!("{base}-{:08x}", rand::random::<u32>()));
                run(&opts)
            }
            other => other,
        }
        .context("suggesting labels")?;
        for w in &report.warnings {
            eprintln!("warning: {}", crate::text::one_line(w));
        }
        let Some(r) = report.items.into_iter().next() else {
            bail!("{}: the suggestion run asked nothing (budget spent?)", item.key);
        };
        let Some(suggestion) = r.suggestion else {
            bail!(
                "{}: no provider answered: {}",
                item.key,
                crate::text::one_line(r.error.as_deref().unwrap_or("unknown error"))
            );
        };
        let (provider, model) = if suggestion.provider.is_empty() {
            (report.run.provider.clone(), report.run.model.clone())
        } else {
            (suggestion.provider.clone(), suggestion.model.clone())
        };
        Ok(Answer { suggestion, provider, model, prompt_hash: report.run.prompt_hash })
    }

    /// The note that limits this action to a comment, when sift already wrote
    /// `bot.max_actions_per_hour` comments in the last hour.
    fn hourly_cap(&mut self, repo: &RepoSlug, login: &str) -> Result<Option<String>> {
        let cap = self.ctx.ws.settings.bot.max_actions_per_hour;
        let since = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1))
            .round(jiff::Unit::Second)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let comments = self
            .rt
            .block_on(pull::repo_comments_since(&mut self.client, repo, &since))
            .with_context(|| format!("GitHub: recent comments of {}", repo.full()))?;
        let recent = comments
            .iter()
            .filter(|c| c.author.eq_ignore_ascii_case(login) && audit::parse(&c.body).is_some())
            .count();
        Ok((recent >= cap).then(|| {
            format!(
                "sift wrote {recent} comments on {} in the last hour (bot.max_actions_per_hour = \
                 {cap}): comment only this time",
                repo.full()
            )
        }))
    }

    /// Add the decided labels through the push journal; returns the labels added.
    fn apply(
        &mut self,
        repo: &RepoSlug,
        item: &Item,
        tax: &crate::taxonomy::Taxonomy,
        d: &Decision,
    ) -> Result<Vec<String>> {
        if d.add.is_empty() {
            return Ok(Vec::new());
        }
        let entry = PlanEntry {
            key: item.key.clone(),
            number: item.number.unwrap_or(0),
            source: "suggestion".into(),
            labels: Vec::new(),
            add: d.add.clone(),
            notes: d.notes.clone(),
            blocked_by: d.add.iter().map(|l| (l.clone(), blockers(tax, l))).collect(),
            audit: None,
        };
        let (id, report) = self.send(repo, PushMode::Apply, entry, &HashMap::new())?;
        if report.failed > 0 || report.stopped.is_some() {
            bail!("GitHub: adding labels to {}: {}", item.key, report.errors.join("; "));
        }
        // Only what this push put on the issue is sift's: a label a human added meanwhile
        // (while the model was thinking) was not sent and stays the human's.
        let Some(id) = id else { return Ok(Vec::new()) };
        let mine = self.ctx.store.pushed_labels(&repo.full(), Some(&id))?;
        Ok(mine.into_iter().map(|p| p.label).collect())
    }

    /// Write (or edit) sift's one comment on the issue; returns what happened to it.
    fn comment(
        &mut self,
        repo: &RepoSlug,
        item: &Item,
        s: &Suggestion,
        audit: BotAudit,
        own: Option<(Option<i64>, audit::Block)>,
    ) -> Result<&'static str> {
        let mut data = crate::github::plan::comment_data("suggestion", &s.labels);
        data.bot = Some(audit.clone());
        if own.as_ref().is_some_and(|(_, b)| same_comment(&b.data, &data)) {
            return Ok("unchanged");
        }
        let mut known = HashMap::new();
        let verb = match &own {
            Some((id, b)) => {
                known.insert(item.key.clone(), (*id, b.data.clone()));
                "edited"
            }
            None => "posted",
        };
        let entry = PlanEntry {
            key: item.key.clone(),
            number: item.number.unwrap_or(0),
            source: "suggestion".into(),
            labels: s.labels.clone(),
            add: Vec::new(),
            notes: Vec::new(),
            blocked_by: Default::default(),
            audit: Some(audit),
        };
        let (_, report) = self.send(repo, PushMode::Comment, entry, &known)?;
        if report.failed > 0 || report.stopped.is_some() {
            bail!("GitHub: commenting on {}: {}", item.key, report.errors.join("; "));
        }
        Ok(verb)
    }

    /// Journal a one-entry plan and send it.
    fn send(
        &mut self,
        repo: &RepoSlug,
        mode: PushMode,
        entry: PlanEntry,
        known: &HashMap<String, (Option<i64>, CommentData)>,
    ) -> Result<(Option<String>, push::PushReport)> {
        let plan = PushPlan {
            repo: repo.full(),
            mode,
            threshold: None,
            entries: vec![entry],
            skipped: Vec::new(),
            up_to_date: 0,
            unfinished: Vec::new(),
        };
        let Some(id) = push::journal_plan(&mut self.ctx.store, &plan, known)? else {
            return Ok((None, push::PushReport::default()));
        };
        let report = self.run(&id)?;
        Ok((Some(id), report))
    }

    fn run(&mut self, push_id: &str) -> Result<push::PushReport> {
        let mut quiet = |_: &push::PushProgress| {};
        let report = self.rt.block_on(push::run_push(
            &mut self.ctx.store,
            &mut self.client,
            push_id,
            &mut self.login,
            &mut quiet,
        ))?;
        Ok(report)
    }

    /// `/label off`: take back the labels sift applied (only those), mark its comment, and
    /// leave the issue alone from then on.
    fn label_off(&mut self, repo: &str, number: i64) -> Result<ExitCode> {
        let repo = RepoSlug::parse(repo)?;
        let Some(item) = self.fetch(&repo, number)? else {
            outln!("{}#{number} is a pull request: nothing to do", repo.full());
            return Ok(ExitCode::SUCCESS);
        };
        let login = self.my_login()?;
        let Some((id, block)) = audit::own_block(&item.comments, &login) else {
            self.ctx.store.set_issue_flags(&item.key, true, false)?;
            outln!("{}#{number}: sift is off on this issue; it had not acted here", repo.full());
            return Ok(ExitCode::SUCCESS);
        };
        let mut audit = block.data.bot.clone().unwrap_or_default();
        let take_back: Vec<String> = audit
            .applied
            .iter()
            .filter(|l| item.source_labels.iter().any(|p| p.eq_ignore_ascii_case(l)))
            .cloned()
            .collect();
        if let Some(push_id) = push::journal_removals(
            &mut self.ctx.store,
            &repo.full(),
            &item.key,
            number,
            &take_back,
        )? {
            let report = self.run(&push_id)?;
            if report.failed > 0 || report.stopped.is_some() {
                bail!("GitHub: removing labels from {}: {}", item.key, report.errors.join("; "));
            }
        }
        audit.decision = "off".into();
        audit.applied.clear();
        audit.note = (!take_back.is_empty())
            .then(|| format!("removed the labels sift had applied: {}", take_back.join(", ")));
        let s = Suggestion { labels: block.data.labels.clone(), ..Default::default() };
        self.comment(&repo, &item, &s, audit, Some((id, block)))?;
        // Flagged last: the journal skips ops on issues under `/label off`, the note too.
        self.ctx.store.set_issue_flags(&item.key, true, false)?;
        outln!(
            "{}#{number}: sift is off on this issue; removed [{}]",
            repo.full(),
            take_back.join(", ")
        );
        Ok(ExitCode::SUCCESS)
    }

    /// Triage the open issues of `repo` that have no labels, at most `max`.
    pub fn backfill(&mut self, repo: &str, max: usize) -> Result<ExitCode> {
        let slug = RepoSlug::parse(repo)?;
        let dataset = pull::dataset_for(&self.ctx.ws.settings, &slug);
        let unlabeled = |i: &Item| i.source_labels.is_empty();
        let items = self
            .rt
            .block_on(pull::list_issues(
                &mut self.client,
                &slug,
                "state=open&sort=created&direction=asc",
                &dataset,
                max,
                &unlabeled,
            ))
            .with_context(|| format!("GitHub: listing the open issues of {}", slug.full()))?;
        outln!("{}: {} open issues without labels (at most {max})", slug.full(), items.len());
        for i in &items {
            self.triage_one(repo, i.number.unwrap_or(0), false, "backfill")?;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// For the backtest: suggestions for items already in the store, one run, nothing sent.
    pub fn suggest_many(&mut self, keys: Vec<String>) -> Result<runner::RunReport> {
        let mut opts = self.opts.clone();
        opts.keys = Some(keys);
        opts.name = Some(format!("triage-backtest-{:08x}", rand::random::<u32>()));
        opts.progress = true;
        let ctx = &mut *self.ctx;
        let report = self.rt.block_on(runner::run_suggestions(
            &ctx.ws,
            &ctx.labels,
            &mut ctx.store,
            &opts,
            &NoExamples,
            std::future::pending(),
        ))?;
        Ok(report)
    }

    /// Labeled issues of `repo`, newest first, stored (no comments).
    pub fn labeled_issues(&mut self, repo: &RepoSlug, last: usize) -> Result<Vec<Item>> {
        let dataset = pull::dataset_for(&self.ctx.ws.settings, repo);
        let tax = self.ctx.labels.get(self.ctx.ws.settings.taxonomy_for(&dataset))?.clone();
        let labeled = move |i: &Item| i.source_labels.iter().any(|l| tax.resolve(l).is_some());
        let items = self
            .rt
            .block_on(pull::list_issues(
                &mut self.client,
                repo,
                "state=all&sort=created&direction=desc",
                &dataset,
                last,
                &labeled,
            ))
            .with_context(|| format!("GitHub: listing the issues of {}", repo.full()))?;
        self.ctx.store.upsert_items(&items, &now_rfc3339())?;
        Ok(items)
    }
}

/// Two comments say the same when only the sift version could differ.
fn same_comment(a: &CommentData, b: &CommentData) -> bool {
    a.labels == b.labels && a.bot == b.bot
}

/// `bot.model`: a committed model file answers as the `local` provider (no API key needed),
/// unless a provider was named on the command line.
fn use_committed_model(ctx: &Context, opts: &mut RunOptions, named: bool) -> Result<()> {
    let Some(file) = ctx.ws.settings.bot.model.clone().filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    // Relative to the workspace, or, for the scratch workspace of a checkout without one, to
    // the checkout (the current folder).
    let in_ws = ctx.ws.root.join(&file);
    let src = if in_ws.exists() {
        in_ws
    } else {
        std::env::current_dir().map(|d| d.join(&file)).unwrap_or(in_ws)
    };
    let tax = &ctx.ws.settings.taxonomy;
    let dir = ctx.ws.models_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dst = dir.join(format!("{tax}.model"));
    if src != dst {
        std::fs::copy(&src, &dst)
            .with_context(|| format!("bot.model = {file:?}: copying {}", src.display()))?;
    }
    if !named {
        opts.provider = "local".into();
    }
    Ok(())
}
