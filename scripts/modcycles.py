#!/usr/bin/env python3
"""Module import cycles inside each crate, from `use crate::/super::/self::`
paths (test modules and comments skipped). `just lint` runs it over every
crate and fails on a cycle: stages of a run, report parts and suite sections
must depend on each other one way. Usage: modcycles.py CRATE_DIR..."""
import os,re,sys
def modules(src):
    mods={}
    for root,_,files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            p=os.path.join(root,f); rel=os.path.relpath(p,src)[:-3].split(os.sep)
            if rel[-1] in ('lib','main'): rel=rel[:-1]
            elif rel[-1]=='mod': rel=rel[:-1]
            if 'tests' in rel: continue
            mods[tuple(rel)]=p
    return mods
def resolve(mods, base, path):
    # longest prefix that is a module
    for n in range(len(path),0,-1):
        if tuple(path[:n]) in mods: return tuple(path[:n])
    return ()
def strip_tests(text):
    i=text.find('#[cfg(test)]')
    return text if i<0 else text[:i]
def edges(mods):
    E={m:set() for m in mods}
    for m,p in mods.items():
        text=strip_tests(open(p).read())
        text=re.sub(r'//.*','',text)
        for mt in re.finditer(r'\b(crate|super|self)::', text):
            kind=mt.group(1)
            i=mt.end()
            # read a path or a brace group with nesting
            if i<len(text) and text[i]=='{':
                depth=0; j=i
                while j<len(text):
                    if text[j]=='{': depth+=1
                    elif text[j]=='}':
                        depth-=1
                        if depth==0: break
                    j+=1
                inner=text[i+1:j]
                parts=[]; depth=0; cur=''
                for ch in inner:
                    if ch=='{': depth+=1
                    if ch=='}': depth-=1
                    if ch==',' and depth==0: parts.append(cur.strip()); cur=''
                    else: cur+=ch
                parts.append(cur.strip())
                targets=[[x for x in q.split('{')[0].split('::') if x.strip() and re.match(r'[A-Za-z_]',x.strip())] for q in parts]
                targets=[[x.strip().split(' ')[0] for x in tg] for tg in targets]
            else:
                m2=re.match(r'[A-Za-z_][A-Za-z_0-9]*(?:::[A-Za-z_][A-Za-z_0-9]*)*', text[i:])
                if not m2: continue
                targets=[m2.group(0).split('::')]
            if kind=='crate': base=()
            elif kind=='super': base=m[:-1]
            else: base=m
            for tg in targets:
                if not tg: continue
                path=list(base)+tg
                r=resolve(mods,base,path)
                if r!=m and r!=m[:len(r)] or (r==m[:-1] and len(m)>0):
                    if r!=m: E[m].add(r)
    return E
def cycles(E):
    seen=set(); stack=[]; on=set(); found=[]
    def dfs(u):
        seen.add(u); stack.append(u); on.add(u)
        for v in E.get(u,()):
            if v not in E: continue
            if v in on: found.append(stack[stack.index(v):]+[v])
            elif v not in seen: dfs(v)
        stack.pop(); on.discard(u)
    for u in E:
        if u not in seen: dfs(u)
    return found
bad=0
for crate in sys.argv[1:]:
    mods=modules(os.path.join(crate,'src'))
    cs=cycles(edges(mods))
    bad+=len(cs)
    for c in cs[:20]:
        print(crate+': import cycle', ' -> '.join('::'.join(x) or 'crate' for x in c))
sys.exit(1 if bad else 0)
