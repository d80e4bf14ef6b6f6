package hkube.algo.wrapper;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.stream.Stream;

/**
 * Finds the user's {@link IAlgorithm} class on the classpath.
 *
 * <p>Order: the entry point (the algorithm's {@code entryPoint}, a class name; {@code Algo.java},
 * {@code com/acme/Algo.class} and {@code src/main/java/com/acme/Algo.java} are accepted too), else
 * the {@code Hkube-Algorithm} or {@code Main-Class} attribute of a jar's manifest when it names an
 * IAlgorithm, else the only IAlgorithm class found in the algorithm's jars and folders.
 */
final class AlgorithmLoader {
    private AlgorithmLoader() {}

    /** The class cannot be found, is not an IAlgorithm, or cannot be instantiated. */
    static final class LoadError extends Exception {
        private static final long serialVersionUID = 1L;

        LoadError(String message) {
            super(message);
        }
    }

    static IAlgorithm load(String entryPoint) throws LoadError {
        Class<?> cls = resolve(entryPoint);
        try {
            return (IAlgorithm) cls.getDeclaredConstructor().newInstance();
        } catch (NoSuchMethodException exc) {
            throw new LoadError("algorithm class " + cls.getName() + " needs a public no-argument constructor");
        } catch (ReflectiveOperationException exc) {
            Throwable cause = exc.getCause() != null ? exc.getCause() : exc;
            cause.printStackTrace();
            throw new LoadError("cannot create algorithm " + cls.getName() + ": " + describe(cause));
        } catch (LinkageError exc) {
            exc.printStackTrace();
            throw new LoadError("cannot create algorithm " + cls.getName() + ": " + describe(exc));
        }
    }

    static Class<?> resolve(String entryPoint) throws LoadError {
        String entry = entryPoint == null ? "" : entryPoint.trim();
        if (!entry.isEmpty()) {
            return byName(entry);
        }
        List<Path> roots = algorithmRoots();
        for (Path root : roots) {
            String named = manifestClass(root);
            if (named != null) {
                Class<?> cls = tryLoad(named);
                if (cls != null && isAlgorithm(cls)) {
                    return cls;
                }
            }
        }
        List<Class<?>> found = new ArrayList<>();
        for (Path root : roots) {
            for (String name : classNames(root)) {
                Class<?> cls = tryLoad(name);
                if (cls != null && isAlgorithm(cls) && !found.contains(cls)) {
                    found.add(cls);
                }
            }
        }
        if (found.size() == 1) {
            return found.get(0);
        }
        if (found.isEmpty()) {
            throw new LoadError(
                    "no class implementing hkube.algo.wrapper.IAlgorithm was found in the algorithm's code "
                            + roots + "; set the algorithm's entryPoint to its class name");
        }
        List<String> names = new ArrayList<>();
        for (Class<?> cls : found) {
            names.add(cls.getName());
        }
        throw new LoadError(
                "several classes implement hkube.algo.wrapper.IAlgorithm " + names
                        + "; set the algorithm's entryPoint to the one to run");
    }

    private static Class<?> byName(String entry) throws LoadError {
        String name = entry;
        for (String suffix : new String[] {".java", ".class"}) {
            if (name.endsWith(suffix)) {
                name = name.substring(0, name.length() - suffix.length());
            }
        }
        name = name.replace('/', '.').replace('\\', '.');
        while (name.startsWith(".")) {
            name = name.substring(1);
        }
        // "src.main.java.com.acme.Algo": try dropping leading folders until a class loads.
        String candidate = name;
        while (true) {
            Class<?> cls = tryLoad(candidate);
            if (cls != null) {
                if (!isAlgorithm(cls)) {
                    throw new LoadError(
                            "entry point class " + cls.getName() + " does not implement "
                                    + "hkube.algo.wrapper.IAlgorithm (or is abstract)");
                }
                return cls;
            }
            int dot = candidate.indexOf('.');
            if (dot < 0) {
                break;
            }
            candidate = candidate.substring(dot + 1);
        }
        throw new LoadError(
                "entry point class '" + entry + "' was not found in the algorithm's code " + algorithmRoots());
    }

    private static boolean isAlgorithm(Class<?> cls) {
        int mods = cls.getModifiers();
        return IAlgorithm.class.isAssignableFrom(cls)
                && !cls.isInterface()
                && !Modifier.isAbstract(mods)
                && Modifier.isPublic(mods);
    }

    private static Class<?> tryLoad(String name) {
        try {
            // initialize=false: looking must not run the user's static initializers.
            return Class.forName(name, false, ClassLoader.getSystemClassLoader());
        } catch (ClassNotFoundException | LinkageError exc) {
            return null;
        }
    }

    /** The classpath entries other than the wrapper's own jar or folder. */
    static List<Path> algorithmRoots() {
        Path own = ownLocation();
        List<Path> roots = new ArrayList<>();
        for (String part : System.getProperty("java.class.path", "").split(File.pathSeparator)) {
            if (part.isEmpty()) {
                continue;
            }
            Path path = Paths.get(part).toAbsolutePath().normalize();
            if (!path.equals(own) && Files.exists(path)) {
                roots.add(path);
            }
        }
        return roots;
    }

    private static Path ownLocation() {
        try {
            return Paths.get(AlgorithmLoader.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toAbsolutePath()
                    .normalize();
        } catch (URISyntaxException | SecurityException | NullPointerException exc) {
            return null;
        }
    }

    private static String manifestClass(Path root) {
        if (!Files.isRegularFile(root)) {
            return null;
        }
        try (JarFile jar = new JarFile(root.toFile())) {
            Manifest manifest = jar.getManifest();
            if (manifest == null) {
                return null;
            }
            Attributes attrs = manifest.getMainAttributes();
            String named = attrs.getValue("Hkube-Algorithm");
            return named != null ? named.trim() : attrs.getValue("Main-Class");
        } catch (IOException exc) {
            return null;
        }
    }

    private static List<String> classNames(Path root) {
        List<String> names = new ArrayList<>();
        if (Files.isRegularFile(root)) {
            try (JarFile jar = new JarFile(root.toFile())) {
                Enumeration<JarEntry> entries = jar.entries();
                while (entries.hasMoreElements()) {
                    addClassName(names, entries.nextElement().getName());
                }
            } catch (IOException exc) {
                System.err.println("hkube wrapper: cannot read " + root + ": " + exc.getMessage());
            }
        } else if (Files.isDirectory(root)) {
            try (Stream<Path> files = Files.walk(root)) {
                files.filter(Files::isRegularFile)
                        .forEach(p -> addClassName(names, root.relativize(p).toString().replace(File.separatorChar, '/')));
            } catch (IOException exc) {
                System.err.println("hkube wrapper: cannot read " + root + ": " + exc.getMessage());
            }
        }
        return names;
    }

    private static void addClassName(List<String> names, String entry) {
        if (!entry.endsWith(".class") || entry.contains("$") || entry.startsWith("META-INF/")
                || entry.endsWith("module-info.class") || entry.endsWith("package-info.class")) {
            return;
        }
        names.add(entry.substring(0, entry.length() - ".class".length()).replace('/', '.'));
    }

    static String describe(Throwable exc) {
        String message = exc.getMessage();
        return message == null || message.isEmpty() ? exc.getClass().getName() : message;
    }
}
