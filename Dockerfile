# The cell-operator image: `operator` (the default command) runs the controllers, `router` serves
# the routing table. Runs as a non-root numeric user and writes nothing to its root filesystem, so
# it works with `readOnlyRootFilesystem: true` and `runAsNonRoot: true`.

FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the runtime user.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
EXPOSE 8080 8090
ENTRYPOINT ["node", "dist/main.js"]
CMD ["operator"]
