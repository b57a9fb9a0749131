-- wrk script: 32 editors marking cells of one system, as the workshop page
-- does with htmx (form post, panel fragment back). Each request picks a
-- technique and an applicability at random.
local techniques = {}
-- The benchmark administrator's session (set by workshop-load.sh).
local cookie = os.getenv("COOKIE") or ""
local choices = { "applies", "not_applicable", "unknown" }

function init(args)
  local f = io.open(args[1] or "techniques.txt")
  for line in f:lines() do techniques[#techniques + 1] = line end
  f:close()
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local technique = techniques[math.random(#techniques)]
  local body = "applicability=" .. choices[math.random(#choices)]
  return wrk.format("POST", "/systems/1/techniques/" .. technique, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["HX-Request"] = "true",
    ["Cookie"] = cookie,
  }, body)
end

-- Think time between one editor's changes, in milliseconds (THINK_MS);
-- 0 makes every editor click as fast as the server answers.
local think = tonumber(os.getenv("THINK_MS") or "0")
function delay()
  return think
end
