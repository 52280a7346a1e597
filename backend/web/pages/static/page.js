// lsbert's project page, on top of what the server drew:
// - the progress of running jobs moves without a reload (GET /jobs?project=N every 2 s);
//   when a job starts, ends or queues, the page's sections are fetched again and swapped;
// - a rollback button opens a confirmation, then POST /versions/<v>/activate?project=N;
// - the label quality section appears once GET /projects/N/quality answers 200.
// Text from the backend is set with textContent only: nothing it says becomes markup.
"use strict";

const POLL_MS = 2000;

function etaText(seconds) {
  // the same words as backend/web/pages/data.py: eta_text
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `about ${s} s left`;
  if (s < 3600) return `about ${Math.round(s / 60)} min left`;
  return `about ${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min left`;
}

function paceText(progress, field) {
  // the same as backend/web/pages/data.py: pace_text
  const { step, total_steps: total, eta_seconds: eta } = progress;
  if (field.dataset.done && total && step !== undefined && step >= total) return field.dataset.done;
  return eta === null || eta === undefined ? "" : ` · ${etaText(eta)}${field.dataset.suffix || ""}`;
}

function shortName(version) {
  return String(version || "").split("-")[0];
}

function localTimes(root) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const stamp = element.getAttribute("datetime");
    const when = new Date(stamp);
    if (stamp && !Number.isNaN(when.getTime())) {
      element.title = stamp;
      // "Dec 2, 2026, 5:44:44 AM UTC": neither 12/2 nor 2/12, and the zone is said
      element.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
    }
  }
}

function showProgress(main, job) {
  const box = main.querySelector(`[data-job-id="${CSS.escape(job.id)}"]`);
  const progress = job.progress;
  if (!box || !progress) return;
  const bar = box.querySelector("progress");
  if (bar && progress.total_steps) {
    bar.max = progress.total_steps;
    bar.value = progress.step;
  }
  for (const field of box.querySelectorAll("[data-field]")) {
    const key = field.dataset.field;
    if (key === "pace") {
      field.textContent = paceText(progress, field);
    } else if (key in progress) {
      field.textContent = String(progress[key]);
    }
  }
  for (const part of box.querySelectorAll("[data-when]")) {
    part.hidden = part.dataset.when !== "started";
  }
}

async function refresh(main, dialog) {
  // the whole page again, its live sections swapped in: one renderer (the server's)
  if (dialog.open) return false; // the next poll will
  const answer = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
  if (!answer.ok) return false;
  const page = new DOMParser().parseFromString(await answer.text(), "text/html");
  const fresh = page.getElementById("main");
  if (!fresh) return false;
  const open = [...main.querySelectorAll("details[open]")].map((d) => d.id);
  const focused = document.activeElement ? document.activeElement.id : "";
  for (const section of fresh.querySelectorAll("[data-live]")) {
    const old = document.getElementById(section.id);
    if (old) old.replaceWith(document.adoptNode(section));
  }
  main.dataset.signature = fresh.dataset.signature;
  for (const id of open) {
    const details = document.getElementById(id);
    if (details) details.open = true;
  }
  const again = focused ? document.getElementById(focused) : null;
  if (again && again !== document.activeElement) again.focus();
  localTimes(main);
  showQuality();
  return true;
}

async function poll(main, dialog) {
  try {
    const answer = await fetch(main.dataset.jobsUrl, {
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (answer.ok) {
      const jobs = (await answer.json()).jobs || [];
      for (const job of jobs) showProgress(main, job);
      const signature = jobs.map((job) => `${job.id}:${job.status}`).join(",");
      if (signature !== main.dataset.signature) await refresh(main, dialog);
    }
  } catch (error) {
    console.warn("lsbert: could not read the jobs, trying again", error);
  } finally {
    setTimeout(() => poll(main, dialog), POLL_MS);
  }
}

function wireRollback(main, dialog) {
  const form = dialog.querySelector("form");
  const reason = dialog.querySelector("#activate-reason");
  const error = dialog.querySelector("[data-field=error]");
  let chosen = null;
  main.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-activate]");
    if (!button) return;
    chosen = button.dataset.activate;
    const served = document.getElementById("served").dataset.served;
    dialog.querySelector("[data-field=name]").textContent = button.dataset.name;
    dialog.querySelector("[data-field=instead]").textContent = served ? ` instead of ${served}` : "";
    dialog.querySelector("#activate-confirm").textContent = `Serve ${button.dataset.name}`;
    error.textContent = "";
    reason.value = "";
    dialog.showModal();
  });
  form.addEventListener("submit", async (event) => {
    if (event.submitter && event.submitter.value === "cancel") return; // closes the dialog
    event.preventDefault();
    const project = encodeURIComponent(main.dataset.project);
    const answer = await fetch(`/versions/${encodeURIComponent(chosen)}/activate?project=${project}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ reason: reason.value.trim() || "made current from the project page" }),
    }).catch(() => null);
    const body = answer ? await answer.json().catch(() => ({})) : {};
    if (!answer || !answer.ok) {
      error.textContent = answer
        ? `${body.message || answer.statusText}. ${body.fix || ""}`
        : "The backend did not answer; try again.";
      return;
    }
    dialog.close();
    const replaced = body.replaced ? `, instead of ${shortName(body.replaced)}` : "";
    document.getElementById("notice").textContent = `${shortName(body.model_version)} serves now${replaced}.`;
    await refresh(main, dialog);
  });
}

function cell(row, text, header = false) {
  const element = document.createElement(header ? "th" : "td");
  element.textContent = text;
  row.append(element);
  return element;
}

function table(caption, headers, rows) {
  // responsive: on a phone each row becomes a card, each cell labelled with its header
  const element = document.createElement("table");
  element.className = "responsive";
  element.createCaption().textContent = caption;
  const head = element.createTHead().insertRow();
  for (const name of headers) cell(head, name, true).scope = "col";
  const body = element.createTBody();
  for (const values of rows) {
    const row = body.insertRow();
    values.forEach((value, index) => {
      const filled = value instanceof Node ? row.insertCell() : cell(row, value);
      if (value instanceof Node) filled.append(value);
      filled.dataset.label = headers[index];
    });
  }
  return element;
}

function share(value) {
  return typeof value === "number" ? `${Math.round(value * 100)} %` : "–";
}

function words(value) {
  return Array.isArray(value) ? value.join(", ") : String(value ?? "");
}

function taskLink(suspect) {
  // only web addresses become links: a task's url comes from the backend, never script
  const text = `task ${suspect.task}`;
  if (!/^https?:\/\//i.test(String(suspect.url || ""))) return text;
  const link = document.createElement("a");
  link.href = suspect.url;
  link.rel = "noreferrer";
  link.textContent = text;
  return link;
}

async function showQuality() {
  const section = document.getElementById("quality");
  if (!section || !section.dataset.src) return;
  let report;
  try {
    const answer = await fetch(section.dataset.src, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (answer.status !== 200) return; // not served (yet): the section stays hidden
    report = await answer.json();
  } catch (error) {
    return;
  }
  const parts = [];
  if (report.about) {
    const about = document.createElement("p");
    about.textContent = report.about;
    parts.push(about);
  }
  const annotators = report.annotators || [];
  if (annotators.length) {
    parts.push(table("Agreement per annotator", ["Annotator", "Agreement", "Tasks"],
      annotators.map((a) => [words(a.annotator), share(a.agreement), words(a.tasks)])));
  }
  const labels = report.labels || [];
  if (labels.length) {
    parts.push(table("Agreement per label", ["Control", "Label", "Agreement", "Tasks"],
      labels.map((l) => [words(l.control), words(l.label), share(l.agreement), words(l.tasks)])));
  }
  const suspects = report.suspects || [];
  parts.push(suspects.length
    ? table("Labels to look at again, most suspect first", ["Task", "Control", "Annotated", "The model says", "Suspicion"],
      suspects.map((s) => [taskLink(s), words(s.control), words(s.given), words(s.suggested), share(s.score)]))
    : Object.assign(document.createElement("p"), { textContent: "No suspect label." }));
  section.querySelector("[data-field=report]").replaceChildren(...parts);
  section.hidden = false;
}

function start() {
  localTimes(document);
  const main = document.getElementById("main");
  const dialog = document.getElementById("activate-dialog");
  if (!main || !main.dataset.project || !dialog) return; // the overview: nothing moves
  wireRollback(main, dialog);
  showQuality();
  setTimeout(() => poll(main, dialog), POLL_MS);
}

start();
