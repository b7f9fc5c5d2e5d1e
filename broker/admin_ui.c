/*
 * admin_ui.c — GET /ui/ of the admin API (DESIGN §11): one self-contained page, no build step,
 * that reads the admin API from the browser: resources with their Ready reason, events received
 * per broker and their rate (from /metrics), trigger backlogs (describe), and a live tail of a
 * broker (the chunked NDJSON stream of /v1/brokers/{ns}/{name}/tail).
 */
#include <string.h>

#include "admin_internal.h"

static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Herald</title>\n"
    "<style>\n"
    "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\n"
    "h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}\n"
    "table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;"
    "text-align:left;vertical-align:top}\n"
    ".False{color:#b00}.True{color:#070}\n"
    "#tail{background:#111;color:#ddd;font:12px monospace;height:18em;overflow:auto;"
    "padding:.5em;white-space:pre}\n"
    "</style></head><body>\n"
    "<h1>Herald</h1>\n"
    "<h2>Brokers</h2><table id=\"brokers\"></table>\n"
    "<h2>Triggers</h2><table id=\"triggers\"></table>\n"
    "<h2>Other resources</h2><table id=\"others\"></table>\n"
    "<h2>Live tail</h2>\n"
    "<select id=\"pick\"></select> <button id=\"go\">tail</button> "
    "<button id=\"stop\">stop</button>\n"
    "<div id=\"tail\"></div>\n"
    "<script>\n"
    "'use strict';\n"
    "const $=id=>document.getElementById(id);\n"
    "const esc=s=>String(s?\?'').replace(/[&<>\"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;',"
    "'\"':'&quot;'}[c]));\n"
    "const ready=o=>((o.status||{}).conditions||[]).find(c=>c.type==='Ready')||{};\n"
    "function table(el,head,rows){el.innerHTML='<tr>'+head.map(h=>'<th>'+h+'</th>').join('')+"
    "'</tr>'+rows.map(r=>'<tr>'+r.map(c=>'<td'+(c&&c.cls?' class=\"'+c.cls+'\"':'')+'>'+"
    "esc(c&&c.v!==undefined?c.v:c)+'</td>').join('')+'</tr>').join('');}\n"
    "let last={},lastT=0;\n"
    "async function metrics(){const t=await (await fetch('/metrics')).text();const m={};\n"
    " for(const l of t.split('\\n')){const x=l.match(/^herald_events_received_total\\{"
    "namespace=\"([^\"]*)\",broker=\"([^\"]*)\",code=\"202\"\\} (\\d+)/);"
    "if(x)m[x[1]+'/'+x[2]]=+x[3];}return m;}\n"
    "async function refresh(){\n"
    " const list=async k=>(await (await fetch('/v1/resources/'+k)).json()).items||[];\n"
    " const [bs,ts,m]=await Promise.all([list('brokers'),list('triggers'),metrics()]);\n"
    " const now=Date.now(),dt=(now-lastT)/1000;\n"
    " table($('brokers'),['namespace','name','ready','reason','address','events','events/s'],"
    "bs.map(b=>{const k=b.metadata.namespace+'/'+b.metadata.name,r=ready(b),n=m[k]||0;"
    "const rate=lastT&&last[k]!==undefined?((n-last[k])/dt).toFixed(1):'';return [k.split('/')[0],"
    "b.metadata.name,{v:r.status,cls:r.status},r.reason,(b.status.address||{}).url,n,rate];}));\n"
    " last=m;lastT=now;\n"
    " const rows=await Promise.all(ts.slice(0,200).map(async t=>{const r=ready(t);"
    "let d={};try{d=await (await fetch('/v1/triggers/'+t.metadata.namespace+'/'+t.metadata.name+"
    "'/describe')).json();}catch(e){}const s=d.stats||{};"
    "return [t.metadata.namespace,t.metadata.name,t.spec.broker,{v:r.status,cls:r.status},"
    "r.message&&r.status!=='True'?r.reason+': '+r.message:r.reason,"
    "t.status.subscriberUri||'',s.backlog?\?'',s.inFlight?\?'',s.deadLetters?\?'',s.lastError||''];"
    "}));\n"
    " table($('triggers'),['namespace','name','broker','ready','reason','subscriber','backlog',"
    "'in flight','dead','last error'],rows);\n"
    " const kinds=['pingsources','containersources','sinkbindings','kafkasources','kafkasinks',"
    "'channels','inmemorychannels','subscriptions','services','sequences','parallels',"
    "'natssources','natssinks','eventpolicies'];\n"
    " const others=(await Promise.all(kinds.map(list))).flat();\n"
    " table($('others'),['kind','namespace','name','ready','reason'],others.map(o=>{const "
    "r=ready(o);"
    "return [o.kind,o.metadata.namespace,o.metadata.name,{v:r.status,cls:r.status},r.reason];}));\n"
    " const pick=$('pick'),cur=pick.value;pick.innerHTML=bs.map(b=>{const k=b.metadata.namespace+"
    "'/'+b.metadata.name;return '<option'+(k===cur?' selected':'')+'>'+esc(k)+'</option>';})"
    ".join('');}\n"
    "let ctl=null;\n"
    "async function tail(){if(ctl)ctl.abort();ctl=new AbortController();const box=$('tail');"
    "box.textContent='';\n"
    " const res=await fetch('/v1/brokers/'+$('pick').value+'/tail',{signal:ctl.signal});\n"
    " const rd=res.body.getReader(),dec=new TextDecoder();let lines=0;\n"
    " for(;;){const {value,done}=await rd.read();if(done)break;"
    "box.textContent+=dec.decode(value,{stream:true});\n"
    "  if(++lines>500)box.textContent=box.textContent.slice(-200000);"
    "box.scrollTop=box.scrollHeight;}}\n"
    "$('go').onclick=()=>tail().catch(()=>{});$('stop').onclick=()=>{if(ctl)ctl.abort();};\n"
    "refresh();setInterval(()=>refresh().catch(()=>{}),2000);\n"
    "</script></body></html>\n";

void hd_admin__ui(hd_http_req_t *req)
{
    hd_http_respond(req, 200,
                    "Content-Type: text/html; charset=utf-8\r\n"
                    "Cache-Control: no-cache\r\n"
                    "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "
                    "style-src 'unsafe-inline'\r\n",
                    page, sizeof page - 1);
}
