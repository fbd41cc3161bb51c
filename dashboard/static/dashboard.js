// The dashboard's only script: refresh the parts of a page marked data-poll-url while
// something renders, and submit filter forms on change. No inline script anywhere (CSP).

const FAST_MS = 1500; // within 2 s of a change while anything renders
const SLOW_MS = 5000; // idle pages still notice new jobs

function delay(element) {
  return element.dataset.active === "true" ? FAST_MS : SLOW_MS;
}

function here() {
  return location.pathname + location.search;
}

async function refresh(element) {
  const url = element.dataset.pollUrl;
  let response;
  try {
    response = await fetch(url, {
      headers: { "RF-Fragment": "1", "RF-Page": here() },
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    element.classList.add("stale");
    return watch(element, SLOW_MS);
  }
  if (response.status === 401) {
    location.assign("/sign-in?next=" + encodeURIComponent(here()));
    return;
  }
  if (!response.ok) {
    element.classList.add("stale");
    return watch(element, SLOW_MS);
  }
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById(element.id);
  if (!fresh) {
    return watch(element, SLOW_MS);
  }
  element.replaceWith(fresh);
  if (fresh.dataset.pollUrl) {
    watch(fresh, delay(fresh));
  }
}

function watch(element, ms) {
  setTimeout(() => {
    if (document.hidden) {
      watch(element, ms);
    } else if (element.isConnected) {
      refresh(element);
    }
  }, ms);
}

for (const element of document.querySelectorAll("[data-poll-url]")) {
  watch(element, delay(element));
}

for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}
