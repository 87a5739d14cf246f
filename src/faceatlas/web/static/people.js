// The people page: every person with a few faces, doubtful ones first; #<person id> opens one
// person in full. Where the server allows changes: rename, hide, merge, reject or move a face,
// accept or dismiss "may be the same person" suggestions, and undo. Every change is sent to the
// server, its message shown, and what it changed fetched again.
"use strict";

const PAGE = 200;  // people fetched per "Show more"
const SUGGESTIONS_SHOWN = 6;  // suggestions listed before "Show all"

const statusLine = document.getElementById("status");
const infoLine = document.getElementById("info");
const notice = document.getElementById("notice");
const tools = document.getElementById("tools");
const selectionLine = document.getElementById("selection");
const mergeButton = document.getElementById("merge");
const clearButton = document.getElementById("clear-selection");
const undoButton = document.getElementById("undo");
const detail = document.getElementById("person");
const suggestionSection = document.getElementById("suggestions");
const suggestionStatus = document.getElementById("suggestions-status");
const suggestionList = document.getElementById("suggestion-list");
const moreSuggestions = document.getElementById("more-suggestions");
const list = document.getElementById("people");
const summary = document.getElementById("summary");
const moreButton = document.getElementById("more");
const showHidden = document.getElementById("show-hidden");
const choices = document.getElementById("people-choices");
const main = document.getElementById("main");

const state = {
  editable: false,
  people: [],  // the people fetched, in the server's order
  total: 0,
  wanted: PAGE,
  selected: [],  // person ids in the order they were ticked: the first is the merge target
  suggestions: [],
  allSuggestions: false,
  busy: false,
};
const latest = { people: 0, person: 0, suggestions: 0 };  // newest request of each kind

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

function openId() {
  const id = location.hash.slice(1);
  return /^\d{1,18}$/.test(id) ? Number(id) : null;
}

function byId(id) {
  return state.people.find((p) => p.person_id === id);
}

function labelOf(id) {
  const person = byId(id);
  return person ? person.label : `person id ${id}`;
}

function faceLink(face) {
  return el("a", { href: face.image, target: "_blank", title: face.file },
    el("img", { src: face.thumb, alt: `face ${face.face_id} (${face.file})`, loading: "lazy" }));
}

function badges(person) {
  return [
    person.doubtful ? el("span", {
      class: "badge doubt", title: "spread out, or close to another person",
    }, "check first") : null,
    person.hidden ? el("span", { class: "badge" }, "hidden") : null,
  ];
}

// Rebuild a part of the page, keeping the keyboard focus on the control it was on.
function rebuild(node, ...children) {
  const focused = document.activeElement && node.contains(document.activeElement)
    ? document.activeElement.id : "";
  node.replaceChildren(...children);
  if (focused) {
    const again = document.getElementById(focused);
    if (again) again.focus();
  }
}

// ---- writes -----------------------------------------------------------------------------

// POST a change; show its message (or its error, in red) and fetch again what it changed.
async function write(url, body, after = {}) {
  if (state.busy) return null;
  state.busy = true;
  main.setAttribute("aria-busy", "true");
  try {
    const answer = await api(url, { method: "POST", body });
    setStatus((answer && answer.message) || "Done.");
    if (after.onDone) after.onDone(answer);
    await refresh(after);
    return answer;
  } catch (err) {
    setStatus(`Not done: ${err.message}`, true);
    return null;
  } finally {
    state.busy = false;
    main.removeAttribute("aria-busy");
  }
}

function refresh({ people = true, person = true, suggestions = true } = {}) {
  if (suggestions) loadSuggestions();  // may take longer: the rest does not wait for it
  return Promise.all([
    people ? loadPeople() : null, person ? showPerson() : null, people ? loadInfo() : null,
  ]);
}

function rename(person, text) {
  const name = text.trim() || null;
  return write(`/api/people/${person.person_id}/name`, { name });
}

function setHidden(person, hidden) {
  return write(`/api/people/${person.person_id}/hide`, { hidden });
}

function merge(into, others) {
  return write("/api/people/merge", { into, people: others }, {
    onDone() {
      state.selected = [];
      if (others.includes(openId())) location.hash = `#${into}`;  // the open one is gone
    },
  });
}

function reject(face, personId) {
  return write(`/api/faces/${face.face_id}/reject`, { person: personId });
}

function move(face, text) {
  const wanted = text.trim();
  const lower = wanted.toLowerCase();
  const to = state.people.find((p) => p.label === wanted)
    || state.people.find((p) => p.label.toLowerCase() === lower)
    || (/^\d+$/.test(wanted) ? byId(Number(wanted)) : undefined);
  if (!to) {
    setStatus(wanted ? `No person called "${wanted}" on this page.` : "Choose a person to move the face to.", true);
    return null;
  }
  return write(`/api/faces/${face.face_id}/move`, { to: to.person_id });
}

// ---- the list of people -------------------------------------------------------------------

function selectBox(person) {
  const box = el("input", {
    type: "checkbox", id: `select-${person.person_id}`, class: "select",
    checked: state.selected.includes(person.person_id),
  });
  box.addEventListener("change", () => {
    state.selected = state.selected.filter((id) => id !== person.person_id);
    if (box.checked) state.selected.push(person.person_id);
    showSelection();
  });
  return el("label", { class: "select-label", for: box.id, title: "select for merging" },
    box, el("span", { class: "visually-hidden" }, `Select ${person.label}`));
}

function renameForm(person, where) {
  const id = `name-${where}-${person.person_id}`;
  const field = el("input", {
    id, type: "text", name: "name", value: person.name || "", placeholder: "name",
    autocomplete: "off", maxlength: "200", spellcheck: "false",
  });
  const form = el("form", { class: "rename" },
    el("label", { for: id, class: "visually-hidden" }, `Name of ${person.label}`),
    field, el("button", { type: "submit" }, "Save name"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    rename(person, field.value);
  });
  return form;
}

function hideButton(person) {
  const button = el("button", { type: "button", class: "hide" }, person.hidden ? "Unhide" : "Hide");
  button.addEventListener("click", () => setHidden(person, !person.hidden));
  return button;
}

function personRow(person) {
  const titleId = `person-${person.person_id}-title`;
  const head = el("div", { class: "row-head" },
    state.editable ? selectBox(person) : null,
    el("h3", { id: titleId }, el("a", { href: `#${person.person_id}` }, person.label)),
    el("span", { class: "size" }, `${person.size} ${person.size === 1 ? "face" : "faces"}`),
    ...badges(person),
    state.editable ? renameForm(person, "row") : null,
    state.editable ? hideButton(person) : null);
  const classes = ["person-row"];
  if (person.doubtful) classes.push("doubtful");
  if (person.hidden) classes.push("hidden-person");
  return el("article", {
    class: classes.join(" "), "data-person-id": person.person_id, "aria-labelledby": titleId,
  }, head, el("div", { class: "faces" }, ...(person.faces || []).map(faceLink)));
}

function showSelection() {
  state.selected = state.selected.filter((id) => byId(id));
  const [first, ...others] = state.selected;
  if (!first) {
    selectionLine.textContent = "Tick people to merge them.";
  } else if (!others.length) {
    selectionLine.textContent = `Selected: ${labelOf(first)}. Tick the people to merge into it.`;
  } else {
    selectionLine.textContent =
      `Merge ${others.map(labelOf).join(", ")} into ${labelOf(first)}.`;
  }
  mergeButton.disabled = others.length === 0;
  clearButton.disabled = !first;
}

function showPeople() {
  rebuild(list, ...state.people.map(personRow));
  const doubtful = state.people.filter((p) => p.doubtful).length;
  const parts = [`${state.total} ${state.total === 1 ? "person" : "people"}`];
  if (showHidden.checked) parts[0] += " (hidden ones included)";
  if (doubtful) parts.push(`${doubtful} to check first (spread out, or close to another person)`);
  parts.push("then largest first");
  if (state.people.length < state.total) parts.push(`showing ${state.people.length}`);
  summary.textContent = state.total
    ? `${parts.join("; ")}.`
    : "No people yet: run `faceatlas cluster` on this catalog.";
  moreButton.hidden = state.people.length >= state.total;
  if (state.suggestions.length) showSuggestions();  // their sample faces may come from here
  choices.replaceChildren(...state.people.map((p) => {
    const option = el("option", { value: p.label });
    option.label = `${p.size} ${p.size === 1 ? "face" : "faces"}`;
    return option;
  }));
  showSelection();
}

async function loadPeople() {
  const request = ++latest.people;
  const hidden = showHidden.checked ? "&hidden=1" : "";
  try {
    const body = await api(`/api/people?limit=${state.wanted}&offset=0${hidden}`);
    if (request !== latest.people) return;
    state.people = body.people;
    state.total = body.total;
    showPeople();
  } catch (err) {
    if (request === latest.people) setStatus(`Cannot list people: ${err.message}`, true);
  }
}

// ---- one person ------------------------------------------------------------------------

function faceCard(face, person) {
  const card = el("div", { class: "card face-card", "data-face-id": face.face_id },
    faceLink(face),
    el("a", { class: "file", href: face.image, target: "_blank" }, face.file),
    face.pinned ? el("span", { class: "badge", title: "you placed this face here" }, "placed by you") : null,
    face.reference ? el("span", { class: "badge", title: "a photo of a known person" }, "reference") : null);
  if (!state.editable) return card;
  const rejectButton = el("button", { type: "button", class: "reject" }, "Not this person");
  rejectButton.addEventListener("click", () => reject(face, person.person_id));
  const id = `move-${face.face_id}`;
  const field = el("input", {
    id, type: "text", list: "people-choices", placeholder: "Move to…", autocomplete: "off",
  });
  const form = el("form", { class: "move" },
    el("label", { for: id, class: "visually-hidden" }, `Move face ${face.face_id} to person`),
    field, el("button", { type: "submit" }, "Move"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    move(face, field.value);
  });
  card.append(rejectButton, form);
  return card;
}

function renderPerson(person) {
  const close = el("a", { href: "#", class: "close" }, "Close");
  const photos = person.images ? person.images.length : 0;
  rebuild(detail,
    el("div", { class: "row-head" },
      el("h2", { id: "person-title" }, person.label),
      el("span", { class: "size" },
        `${person.size} ${person.size === 1 ? "face" : "faces"} in ${photos} ${photos === 1 ? "photo" : "photos"}`),
      ...badges(person),
      state.editable ? renameForm(person, "open") : null,
      state.editable ? hideButton(person) : null,
      close),
    person.faces.length
      ? el("div", { class: "grid" }, ...person.faces.map((f) => faceCard(f, person)))
      : el("p", { class: "hint" }, "No faces left in this person."));
  detail.setAttribute("aria-labelledby", "person-title");
}

async function showPerson() {
  const id = openId();
  const request = ++latest.person;
  detail.hidden = id === null;
  if (id === null) {
    detail.replaceChildren();
    return;
  }
  try {
    const person = await api(`/api/people/${id}`);
    if (request !== latest.person) return;
    renderPerson(person);
  } catch (err) {
    if (request !== latest.person) return;
    const why = err.status === 404 ? "no such person (merged into another, or gone)" : err.message;
    rebuild(detail, el("p", { class: "error" }, `Cannot show person ${id}: ${why}`),
      el("a", { href: "#", class: "close" }, "Close"));
  }
}

// ---- suggestions --------------------------------------------------------------------------

function suggestedPerson(person) {
  const listed = byId(person.person_id);
  const faces = person.faces || (listed && listed.faces) || [];
  return el("div", { class: "suggested" },
    el("div", { class: "row-head" },
      el("a", { href: `#${person.person_id}` }, person.label),
      el("span", { class: "size" }, `${person.size} ${person.size === 1 ? "face" : "faces"}`),
      ...badges(person)),
    el("div", { class: "faces" }, ...faces.map(faceLink)));
}

function suggestionCard(suggestion) {
  const [a, b] = suggestion.people;
  const titleId = `suggestion-${suggestion.id}-title`;
  const card = el("article", {
    class: "suggestion", "data-suggestion-id": suggestion.id, "aria-labelledby": titleId,
  },
  el("h3", { id: titleId }, `${a.label} and ${b.label}`),
  el("div", { class: "pair" }, suggestedPerson(a), suggestedPerson(b)),
  el("p", { class: "distance" }, `distance ${Number(suggestion.distance).toFixed(3)}`));
  if (!state.editable) return card;
  // the larger keeps its number; the name survives either way
  const [into, other] = b.size > a.size ? [b, a] : [a, b];
  const accept = el("button", { type: "button", class: "accept", "aria-describedby": titleId },
    "Accept (merge)");
  accept.addEventListener("click", () => merge(into.person_id, [other.person_id]));
  const dismiss = el("button", { type: "button", class: "dismiss", "aria-describedby": titleId },
    "Dismiss");
  dismiss.addEventListener("click", () => write(
    `/api/people/suggestions/${encodeURIComponent(suggestion.id)}/dismiss`, {},
    { people: false, person: false },
  ));
  card.append(el("div", { class: "actions" }, accept, dismiss));
  return card;
}

function showSuggestions() {
  const shown = state.allSuggestions
    ? state.suggestions : state.suggestions.slice(0, SUGGESTIONS_SHOWN);
  rebuild(suggestionList, ...shown.map(suggestionCard));
  const count = state.suggestions.length;
  suggestionStatus.textContent = count
    ? `${count} ${count === 1 ? "pair" : "pairs"} of people look alike: the same person, or not?`
    : "No pair of people looks alike enough to ask.";
  moreSuggestions.hidden = shown.length >= count;
  moreSuggestions.textContent = `Show all ${count}`;
}

async function loadSuggestions() {
  const request = ++latest.suggestions;
  suggestionSection.hidden = false;
  if (!state.suggestions.length) suggestionStatus.textContent = "Looking for people who may be the same…";
  try {
    const body = await api("/api/people/suggestions");
    if (request !== latest.suggestions) return;
    state.suggestions = body.suggestions;
    showSuggestions();
  } catch (err) {
    if (request !== latest.suggestions) return;
    if (err.status === 404) {
      suggestionSection.hidden = true;  // a server without suggestions
    } else {
      suggestionStatus.textContent = `Cannot list suggestions: ${err.message}`;
      suggestionStatus.className = "hint error";
    }
  }
}

// ---- start ------------------------------------------------------------------------------

function showInfo(info) {
  const parts = [`face set ${info.face_set}`, `${info.faces} faces`, `${info.people} people`];
  if (typeof info.cut === "number") parts.push(`same person below distance ${formatCut(info.cut)}`);
  infoLine.textContent = parts.join(" · ");
  if (info.read_only) {
    notice.textContent = "This server is read only: people can be looked at, not changed.";
    notice.hidden = false;
  } else if (info.token_required && !accessToken) {
    notice.textContent = "Changes need the address with ?token=… that `faceatlas serve` printed;"
      + " open that address to make changes.";
    notice.hidden = false;
  }
}

async function loadInfo() {
  try {
    showInfo(await api("/api/info"));
  } catch (err) {
    infoLine.textContent = "";  // the counts only; the settings were read at the start
  }
}

async function start() {
  try {
    const info = await api("/api/info");
    showInfo(info);
    state.editable = !info.read_only && !(info.token_required && !accessToken);
  } catch (err) {
    setStatus(`Cannot read the server's settings: ${err.message}`, true);
  }
  tools.hidden = !state.editable;
  await Promise.all([loadPeople(), showPerson()]);
  if (!statusLine.classList.contains("error")) setStatus("");
  loadSuggestions();
}

mergeButton.addEventListener("click", () => {
  const [into, ...others] = state.selected;
  if (into !== undefined && others.length) merge(into, others);
});
clearButton.addEventListener("click", () => {
  state.selected = [];
  list.querySelectorAll("input.select").forEach((box) => { box.checked = false; });
  showSelection();
});
undoButton.addEventListener("click", () => write("/api/people/undo", {}));
moreButton.addEventListener("click", () => {
  state.wanted += PAGE;
  loadPeople();
});
moreSuggestions.addEventListener("click", () => {
  state.allSuggestions = true;
  showSuggestions();
});
showHidden.addEventListener("change", () => loadPeople());
window.addEventListener("hashchange", () => {
  showPerson().then(() => {
    if (!detail.hidden) detail.scrollIntoView({ block: "start" });
  });
});
start();
