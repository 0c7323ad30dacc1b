# The images of the service, one target each, built with the repository root as context:
#   docker build --target producer -t subscriptions-producer .
# `consumer` also runs compose's migrate service; `tools` holds the command-line tools, kept out
# of the service images. Compose builds them all from here (docker-compose.yml).

# The three workspaces compiled once, with their dependencies and what they build with (their
# devDependencies: TypeScript and the types), none of the repository's test and lint tooling.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# Every workspace's manifest first (npm ci checks them against the lockfile), so the dependency
# layer is reused until one of them changes.
COPY package.json package-lock.json ./
COPY contracts/package.json contracts/
COPY platform/package.json platform/
COPY store/package.json store/
COPY producer/package.json producer/
COPY consumer/package.json consumer/
COPY tools/package.json tools/
COPY bench/package.json bench/
RUN npm ci --ignore-scripts --no-audit --no-fund \
  --workspace producer --workspace consumer --workspace tools
COPY tsconfig.base.json ./
COPY contracts/ contracts/
COPY platform/ platform/
COPY store/ store/
COPY producer/ producer/
COPY consumer/ consumer/
COPY tools/ tools/
RUN npx tsc -b producer consumer tools

# What every image starts from: the manifests npm ci needs, and the shared workspaces' code.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/contracts/package.json contracts/
COPY --from=build /app/platform/package.json platform/
COPY --from=build /app/store/package.json store/
COPY --from=build /app/producer/package.json producer/
COPY --from=build /app/consumer/package.json consumer/
COPY --from=build /app/tools/package.json tools/
COPY --from=build /app/bench/package.json bench/
COPY --from=build /app/contracts/dist contracts/dist
COPY --from=build /app/platform/dist platform/dist
COPY --from=build /app/store/dist store/dist
STOPSIGNAL SIGTERM

# Each image installs the production dependencies of its workspace only (npm links the
# @subscriptions/* workspaces it uses to ./contracts, ./platform and ./store). The code stays owned by
# root: the process, as the unprivileged node user, can read it, not change it.
FROM runtime AS producer
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace producer \
  && npm cache clean --force
COPY --from=build /app/producer/dist producer/dist
USER node
EXPOSE 5000
CMD ["node", "producer/dist/main.js"]

FROM runtime AS consumer
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace consumer \
  && npm cache clean --force
COPY --from=build /app/consumer/dist consumer/dist
# consumer/dist/db/migrate.js reads the schema from ../../../mysql-init, that is /app/mysql-init.
COPY mysql-init/ mysql-init/
USER node
CMD ["node", "consumer/dist/main.js"]

FROM runtime AS tools
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace tools \
  && npm cache clean --force
COPY --from=build /app/tools/dist tools/dist
USER node
# The arguments name the tool: `token 1 --admin`, `lifecycle`, `events --json`.
ENTRYPOINT ["node", "tools/dist/main.js"]
